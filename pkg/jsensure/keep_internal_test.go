package jsensure

import (
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestKeepLargerReplicas: fewer replicas than the stream has are raised to
// its count (an R3 stream is not scaled to one copy by a single-server
// config), and named; more, or the same, are applied as configured.
func TestKeepLargerReplicas(t *testing.T) {
	cur := jetstream.StreamConfig{Replicas: 3, MaxAge: time.Hour}
	for _, tc := range []struct {
		want, apply int
		named       bool
	}{{0, 3, true}, {1, 3, true}, {2, 3, true}, {3, 3, false}, {5, 5, false}} {
		w := jetstream.StreamConfig{Replicas: tc.want, MaxAge: time.Hour}
		kept := strings.Join(keepLarger(cur, &w), "; ")
		if w.Replicas != tc.apply {
			t.Errorf("replicas 3, configured %d: applying %d, want %d", tc.want, w.Replicas, tc.apply)
		}
		if strings.Contains(kept, "replicas 3 (configured") != tc.named {
			t.Errorf("replicas 3, configured %d: kept %q", tc.want, kept)
		}
	}
}
