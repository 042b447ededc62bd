package receipts

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// checkpointBucket holds one checkpoint per receipt subject in a BoltStore.
var checkpointBucket = []byte("h402_receipt_checkpoints")

// BoltStore is a ready-made Store on a local bbolt file: the handler gets
// the *bolt.Tx that also writes the checkpoint, so a crash keeps both or
// neither. The seller's own buckets live in the same file (DB).
type BoltStore struct {
	db *bolt.DB
}

var _ Store[*bolt.Tx] = (*BoltStore)(nil)

// OpenBolt opens (or creates) a store file. It waits at most a second for
// the file's lock: one process at a time owns a store.
func OpenBolt(path string) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("receipts: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(checkpointBucket)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("receipts: init %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// DB is the bbolt database, for the seller's own buckets and reads.
func (s *BoltStore) DB() *bolt.DB { return s.db }

// Close closes the file.
func (s *BoltStore) Close() error { return s.db.Close() }

// Update runs fn in one bbolt write transaction.
func (s *BoltStore) Update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

// Checkpoint reads a subject's checkpoint.
func (s *BoltStore) Checkpoint(tx *bolt.Tx, subject string) (Checkpoint, error) {
	b := tx.Bucket(checkpointBucket)
	if b == nil {
		return Checkpoint{}, fmt.Errorf("receipts: bucket %s missing", checkpointBucket)
	}
	v := b.Get([]byte(subject))
	if v == nil {
		return Checkpoint{}, nil
	}
	cp, err := DecodeCheckpoint(v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint of %s: %w", subject, err)
	}
	return cp, nil
}

// SetCheckpoint writes a subject's checkpoint.
func (s *BoltStore) SetCheckpoint(tx *bolt.Tx, subject string, cp Checkpoint) error {
	v, err := EncodeCheckpoint(cp)
	if err != nil {
		return fmt.Errorf("checkpoint of %s: %w", subject, err)
	}
	b := tx.Bucket(checkpointBucket)
	if b == nil {
		return fmt.Errorf("receipts: bucket %s missing", checkpointBucket)
	}
	return b.Put([]byte(subject), v)
}

// Checkpoints returns every subject's checkpoint.
func (s *BoltStore) Checkpoints() (map[string]Checkpoint, error) {
	out := map[string]Checkpoint{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(checkpointBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			cp, err := DecodeCheckpoint(v)
			if err != nil {
				return fmt.Errorf("checkpoint of %s: %w", k, err)
			}
			out[string(k)] = cp
			return nil
		})
	})
	return out, err
}
