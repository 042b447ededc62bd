package jsensure

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestCheckShrinkReplicas: fewer replicas is a shrink (R3 streams scaled to
// one copy by a single-server config); more, or the same, is not.
func TestCheckShrinkReplicas(t *testing.T) {
	cur := jetstream.StreamConfig{Replicas: 3, MaxAge: time.Hour}
	for _, tc := range []struct {
		want   int
		shrink bool
	}{{0, true}, {1, true}, {2, true}, {3, false}, {5, false}} {
		err := checkShrink("stream S", cur, jetstream.StreamConfig{Replicas: tc.want, MaxAge: time.Hour})
		if got := errors.Is(err, ErrWouldShrink); got != tc.shrink {
			t.Errorf("replicas 3 → %d: shrink=%v (%v), want %v", tc.want, got, err, tc.shrink)
		}
		if tc.shrink && !strings.Contains(err.Error(), "replicas 3 →") {
			t.Errorf("replicas 3 → %d: %v does not say which setting", tc.want, err)
		}
	}
}
