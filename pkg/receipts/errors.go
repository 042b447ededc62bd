package receipts

import (
	"errors"
	"fmt"
)

// Errors that stop Client.Run. Each comes wrapped with the subject and
// stream sequence it is about.
var (
	// ErrGap: a receipt on a subject is missing from the stream (a jump in
	// sellerSeq that reading the stream again did not fill). Money may be
	// owed for it: the client stops instead of skipping it.
	ErrGap = errors.New("receipts: a receipt is missing")
	// ErrBadReceipt: a message on the seller's subjects is not a receipt
	// this build reads, or its body does not match its subject. It is left
	// unacked (delivered again on the next Run).
	ErrBadReceipt = errors.New("receipts: unreadable receipt")
	// ErrConflict: a receipt delivered again with the sellerSeq of the
	// checkpoint names another payment than the one handled (the stream
	// was replaced, or the checkpoint belongs to another stream).
	ErrConflict = errors.New("receipts: receipt differs from the one handled")
)

// GapError says which receipts of a subject are missing.
type GapError struct {
	Subject string
	// Want is the sellerSeq expected next; Got the one delivered at StreamSeq.
	Want, Got uint64
	StreamSeq uint64
}

func (e *GapError) Error() string {
	return fmt.Sprintf("receipts: %s: sellerSeq %d..%d missing from stream RECEIPTS (next present is %d at stream sequence %d)",
		e.Subject, e.Want, e.Got-1, e.Got, e.StreamSeq)
}

// Unwrap makes errors.Is(err, ErrGap) true.
func (e *GapError) Unwrap() error { return ErrGap }
