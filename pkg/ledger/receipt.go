package ledger

import (
	"encoding/binary"
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
)

// projectReceipt applies a RECEIPTS message.
func projectReceipt(tx *bolt.Tx, subject string, data []byte) (outcome, error) {
	r, err := events.DecodeReceipt(data)
	if err != nil {
		return skipf("receipt: %w", err)
	}
	if want, err := events.ReceiptSubject(r.PayTo, r.Namespace, r.NetworkID); err != nil || want != subject {
		return skipf("receipt of %s on subject %s", r.ID, subject)
	}
	if err := checkFields(r.Token, r.Payer, r.TxHash); err != nil {
		return skipf("receipt of %s: %w", r.ID, err)
	}
	b := tx.Bucket(bucketReceipts)
	if b.Get([]byte(r.ID)) != nil {
		return ignored, nil // one receipt per payment: the first stands
	}
	v, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	if err := b.Put([]byte(r.ID), v); err != nil {
		return 0, err
	}
	if err := tx.Bucket(bucketReceiptsByTime).Put(receiptTimeKey(r), nil); err != nil {
		return 0, err
	}
	seller := lp(Addr(r.PayTo))
	if err := tx.Bucket(bucketReceiptsBySeller).Put(key(seller, timeKey(r.At), []byte(r.ID)), nil); err != nil {
		return 0, err
	}
	sk := binary.BigEndian.AppendUint64(key(seller, lp(netKey(r.Namespace, r.NetworkID))), r.SellerSeq)
	bs := tx.Bucket(bucketReceiptsBySeq)
	if bs.Get(sk) == nil {
		if err := bs.Put(sk, []byte(r.ID)); err != nil {
			return 0, err
		}
	}
	return applied, nil
}
