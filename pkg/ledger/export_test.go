package ledger

import bolt "go.etcd.io/bbolt"

// DropStatusBuckets removes the status counters from a closed ledger file,
// as a file written before they existed lacks them.
func DropStatusBuckets(path string) error {
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketCounts, bucketPerMinute, bucketReceiptsByTime} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}
