package receiptstest_test

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/receipts"
	"github.com/h402/settlement/pkg/receipts/receiptstest"
)

func TestBoltStore(t *testing.T) {
	receiptstest.StoreConformance(t, func(t *testing.T) receipts.Store[*bolt.Tx] {
		s, err := receipts.OpenBolt(filepath.Join(t.TempDir(), "seller.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
