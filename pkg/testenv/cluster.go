package testenv

import (
	"testing"

	"github.com/h402/settlement/pkg/natsembed"
)

// StartCluster starts an n-node JetStream cluster on loopback ports in this
// process (natsembed.StartCluster), each node with its own store in
// t.TempDir(), and stops it when the test ends. Replicated streams answer
// some errors differently from a single server (a compare-and-set conflict
// is code 10164 instead of 10071), so code that classifies server answers
// is tested on both.
func StartCluster(t testing.TB, n int) []*natsembed.Server {
	t.Helper()
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	servers, err := natsembed.StartCluster(dirs)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		t.Cleanup(s.Close)
	}
	return servers
}
