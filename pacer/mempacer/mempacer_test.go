package mempacer_test

import (
	"testing"

	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/mempacer"
	"github.com/mailflow/mailflow/pacer/pacertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pacertest.Run(t, pacertest.Harness{
		NewBucket: func(*testing.T) pacer.Bucket { return mempacer.New() },
	})
}
