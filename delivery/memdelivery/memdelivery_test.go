package memdelivery_test

import (
	"testing"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/deliverytest"
	"github.com/mailflow/mailflow/delivery/memdelivery"
)

func TestConformance(t *testing.T) {
	deliverytest.Run(t, func(*testing.T) delivery.Store { return memdelivery.New() })
}

func TestDeadLetterIndex(t *testing.T) {
	deliverytest.RunDeadLetterIndex(t, func(*testing.T) deliverytest.IndexedStore { return memdelivery.New() })
}
