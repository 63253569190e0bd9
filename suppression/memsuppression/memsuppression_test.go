package memsuppression_test

import (
	"testing"

	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/memsuppression"
	"github.com/mailflow/mailflow/suppression/suppressiontest"
)

func TestConformance(t *testing.T) {
	suppressiontest.Run(t, func(*testing.T) suppression.List { return memsuppression.New() })
}

func TestSorted(t *testing.T) { suppressiontest.Sorted(t, memsuppression.New()) }
