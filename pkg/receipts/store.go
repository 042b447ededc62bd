package receipts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/h402/settlement/pkg/events"
)

// Checkpoint is the last receipt processed on one receipt subject.
type Checkpoint struct {
	// SellerSeq of the last receipt handled; 0: none yet.
	SellerSeq uint64
	// StreamSeq is its sequence in stream RECEIPTS, where a missing
	// receipt is looked for.
	StreamSeq uint64
	// ID is its payment id: a receipt delivered again with the same
	// SellerSeq must carry it.
	ID string
}

// Store keeps a seller's checkpoints in the database where its handler
// writes, so that a receipt's effect and its checkpoint commit together.
// Tx is the store's transaction type (*bbolt.Tx for BoltStore, *sql.Tx for
// a SQL database).
type Store[Tx any] interface {
	// Update runs fn in one read-write transaction, committed when fn
	// returns nil and rolled back otherwise.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Checkpoint reads a subject's checkpoint in tx; the zero Checkpoint
	// when there is none.
	Checkpoint(tx Tx, subject string) (Checkpoint, error)
	// SetCheckpoint writes a subject's checkpoint in tx.
	SetCheckpoint(tx Tx, subject string, cp Checkpoint) error
}

// Handler applies one receipt inside the store's transaction tx. It runs
// once per (subject, sellerSeq) that commits; an error rolls the
// transaction back and stops Client.Run.
type Handler[Tx any] func(ctx context.Context, tx Tx, r *events.Receipt) error

// checkpointVersion is the version of a checkpoint record.
const checkpointVersion = 1

type checkpointRecord struct {
	Version   int    `json:"v"`
	SellerSeq uint64 `json:"sellerSeq"`
	StreamSeq uint64 `json:"streamSeq"`
	ID        string `json:"id"`
}

// ErrBadCheckpoint is returned for a stored checkpoint that does not decode.
var ErrBadCheckpoint = errors.New("receipts: bad checkpoint record")

// EncodeCheckpoint is the stored form of a checkpoint: JSON
// {"v":1,"sellerSeq":n,"streamSeq":n,"id":"..."}.
func EncodeCheckpoint(cp Checkpoint) ([]byte, error) {
	if err := cp.check(); err != nil {
		return nil, err
	}
	return json.Marshal(checkpointRecord{Version: checkpointVersion, SellerSeq: cp.SellerSeq, StreamSeq: cp.StreamSeq, ID: cp.ID})
}

// DecodeCheckpoint decodes a stored checkpoint, strictly: version 1, no
// unknown fields, no trailing data, a sellerSeq, a streamSeq and a payment id.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rec checkpointRecord
	if err := dec.Decode(&rec); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Checkpoint{}, fmt.Errorf("%w: data after the record", ErrBadCheckpoint)
	}
	if rec.Version != checkpointVersion {
		return Checkpoint{}, fmt.Errorf("%w: version %d (this build reads %d)", ErrBadCheckpoint, rec.Version, checkpointVersion)
	}
	cp := Checkpoint{SellerSeq: rec.SellerSeq, StreamSeq: rec.StreamSeq, ID: rec.ID}
	if err := cp.check(); err != nil {
		return Checkpoint{}, err
	}
	return cp, nil
}

func (cp Checkpoint) check() error {
	if cp.SellerSeq == 0 || cp.StreamSeq == 0 {
		return fmt.Errorf("%w: sellerSeq %d and streamSeq %d must both be set", ErrBadCheckpoint, cp.SellerSeq, cp.StreamSeq)
	}
	if err := events.CheckPaymentID(cp.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	return nil
}
