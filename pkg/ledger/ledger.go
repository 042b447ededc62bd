package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/h402/settlement/pkg/events"
)

// Streams are the streams the ledger projects, in the order Dump and Follow use.
var Streams = []string{events.StreamPayments, events.StreamSettlements, events.StreamReceipts}

// Bucket names (see the package documentation for their keys and values).
var (
	bucketMeta             = []byte("meta")
	bucketPayments         = []byte("payments")
	bucketHistory          = []byte("history")
	bucketByPayTo          = []byte("by_payto")
	bucketByPayer          = []byte("by_payer")
	bucketTerminalByPayTo  = []byte("terminal_by_payto")
	bucketTerminalByNet    = []byte("terminal_by_net")
	bucketByTx             = []byte("by_tx")
	bucketTotals           = []byte("totals")
	bucketReceipts         = []byte("receipts")
	bucketReceiptsBySeller = []byte("receipts_by_seller")
	bucketReceiptsBySeq    = []byte("receipts_by_seq")
	bucketSettlements      = []byte("settlements")
	bucketFinals           = []byte("finals")
	bucketGas              = []byte("gas")
)

var allBuckets = [][]byte{
	bucketMeta, bucketPayments, bucketHistory, bucketByPayTo, bucketByPayer,
	bucketTerminalByPayTo, bucketTerminalByNet, bucketByTx, bucketTotals,
	bucketReceipts, bucketReceiptsBySeller, bucketReceiptsBySeq,
	bucketSettlements, bucketFinals, bucketGas,
	bucketCounts, bucketPerMinute, bucketReceiptsByTime,
}

// ErrUnknownStream is returned by Apply for a stream the ledger does not project.
var ErrUnknownStream = errors.New("ledger: unknown stream")

// maxField bounds the strings the ledger puts in keys (addresses, tokens,
// transaction hashes); a message with a longer one is skipped.
const maxField = 256

// Options configure Open.
type Options struct {
	// Logger receives skipped messages and progress (default slog.Default()).
	Logger *slog.Logger
	// ReadOnly opens the file read-only (a shared lock: readers never block
	// each other, but bbolt waits for a writer holding the file, and a
	// writer waits for readers). Set Timeout with it.
	ReadOnly bool
	// Timeout bounds the wait for the file lock (0: wait for ever).
	Timeout time.Duration
	// NoSync skips the fsync of each Update: for a rebuild into a fresh
	// file (redone from the streams after a crash) and tests, never for a
	// ledger that is served.
	NoSync bool
}

// Ledger is the projection in one bbolt file. Apply and the read methods are
// safe for concurrent use.
type Ledger struct {
	db  *bolt.DB
	log *slog.Logger

	mu      sync.Mutex
	applied map[string]uint64
	changed chan struct{} // closed and replaced when applied changes
}

// Open opens (creating when writable) the ledger file at path.
func Open(path string, opts Options) (*Ledger, error) {
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	db.NoSync = opts.NoSync
	l := &Ledger{db: db, log: lg, applied: map[string]uint64{}, changed: make(chan struct{})}
	if !opts.ReadOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			// A file of an older build lacks the status counters: they
			// are filled from what they are derived from, once.
			old := tx.Bucket(bucketPayments) != nil
			newCounts := old && tx.Bucket(bucketCounts) == nil
			newReceipts := old && tx.Bucket(bucketReceiptsByTime) == nil
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return fmt.Errorf("create bucket %s: %w", b, err)
				}
			}
			if newCounts || newReceipts {
				return backfillCounters(tx, newCounts, newReceipts)
			}
			return nil
		})
		if err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
	}
	err = db.View(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return nil
		}
		for _, s := range Streams {
			l.applied[s] = getUint(m, seqKey(s))
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return l, nil
}

// Close closes the file.
func (l *Ledger) Close() error { return l.db.Close() }

// Path is the file's path.
func (l *Ledger) Path() string { return l.db.Path() }

// outcome is what Apply did with a message.
type outcome int

const (
	applied        outcome = iota
	ignored                // read and deliberately not projected (a repeat, a dead letter)
	outcomeSkipped         // undecodable, unknown or inconsistent
)

// skip is the reason a message was skipped.
type skip struct{ err error }

func skipf(format string, a ...any) (outcome, error) {
	return outcomeSkipped, &skip{fmt.Errorf(format, a...)}
}

func (s *skip) Error() string { return s.err.Error() }

// Msg is one stream message.
type Msg struct {
	Seq     uint64
	Subject string
	Data    []byte
}

// Apply applies message seq of stream (its subject and data) in one bbolt
// Update that also stores seq as the stream's last applied sequence. A
// message at or below that sequence was applied before and is skipped
// (nil). A message that cannot be projected (undecodable, unknown subject,
// a body that contradicts its subject) is counted under meta
// skipped/<stream>, logged, and returns nil: it never stops the projection
// and changes nothing else. An error means the file could not be written;
// nothing of the message is applied then.
func (l *Ledger) Apply(stream string, seq uint64, subject string, data []byte) error {
	return l.ApplyBatch(stream, []Msg{{seq, subject, data}})
}

// ApplyBatch applies messages of one stream, in order, as Apply does each,
// in one bbolt Update (one write to disk for all): all are applied, or
// none when it returns an error.
func (l *Ledger) ApplyBatch(stream string, msgs []Msg) error {
	if !knownStream(stream) {
		return fmt.Errorf("%w %q", ErrUnknownStream, stream)
	}
	type skipped struct {
		m   *Msg
		err error
	}
	var (
		skips []skipped
		last  uint64
	)
	err := l.db.Update(func(tx *bolt.Tx) error {
		skips = skips[:0]
		m := tx.Bucket(bucketMeta)
		last = getUint(m, seqKey(stream))
		start := last
		for i := range msgs {
			msg := &msgs[i]
			if msg.Seq == 0 {
				return fmt.Errorf("%s message with sequence 0", stream)
			}
			if msg.Seq <= last {
				continue
			}
			out, err := project(tx, stream, msg.Subject, msg.Data)
			var sk *skip
			if errors.As(err, &sk) {
				out = outcomeSkipped
				skips = append(skips, skipped{msg, sk.err})
			} else if err != nil {
				return fmt.Errorf("message %d (%s): %w", msg.Seq, msg.Subject, err)
			}
			switch out {
			case outcomeSkipped:
				err = addUint(m, []byte("skipped/"+stream))
			case ignored:
				err = addUint(m, []byte("ignored/"+stream))
			}
			if err != nil {
				return err
			}
			last = msg.Seq
		}
		if last == start {
			return nil
		}
		return putUint(m, seqKey(stream), last)
	})
	if err != nil {
		return fmt.Errorf("ledger: apply %s: %w", stream, err)
	}
	for _, s := range skips {
		l.log.Warn("ledger: skipped a message it cannot project", "stream", stream, "seq", s.m.Seq, "subject", s.m.Subject, "err", s.err)
	}
	l.advance(stream, last)
	return nil
}

func project(tx *bolt.Tx, stream, subject string, data []byte) (outcome, error) {
	switch stream {
	case events.StreamPayments:
		return projectPayments(tx, subject, data)
	case events.StreamSettlements:
		return projectSettlements(tx, subject, data)
	default:
		return projectReceipt(tx, subject, data)
	}
}

func knownStream(s string) bool {
	for _, k := range Streams {
		if k == s {
			return true
		}
	}
	return false
}

func (l *Ledger) advance(stream string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq > l.applied[stream] {
		l.applied[stream] = seq
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// Applied returns the stream's last applied sequence.
func (l *Ledger) Applied(stream string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applied[stream]
}

// Skipped returns how many messages of stream were skipped as unprojectable.
func (l *Ledger) Skipped(stream string) (uint64, error) {
	var n uint64
	err := l.db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			n = getUint(m, []byte("skipped/"+stream))
		}
		return nil
	})
	return n, err
}

// WaitFor returns once the stream's message seq (or a later one) is
// applied, or with ctx's error.
func (l *Ledger) WaitFor(ctx context.Context, stream string, seq uint64) error {
	for {
		l.mu.Lock()
		got, ch := l.applied[stream], l.changed
		l.mu.Unlock()
		if got >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("ledger: wait for %s message %d (applied %d): %w", stream, seq, got, ctx.Err())
		}
	}
}

// ErrOtherLog is returned by CheckOrigin (and so by Follow and CatchUp)
// for a file that projects another event log.
var ErrOtherLog = errors.New("the ledger belongs to another event log")

func originKey(stream string) []byte { return []byte("origin/" + stream) }

// CheckOrigin records created, the creation time of the stream (JetStream's
// StreamInfo.Created), as the origin of what the file projects from it,
// and returns ErrOtherLog when another origin is recorded: a file kept
// from a recreated stream, or copied from another deployment, would
// otherwise mix two logs (its sequences would skip the new log's first
// messages and serve payments that are not in it), unless it happened to
// be ahead of the stream. A file that applied messages before origins were
// recorded takes the stream's.
func (l *Ledger) CheckOrigin(stream string, created time.Time) error {
	if !knownStream(stream) {
		return fmt.Errorf("%w %q", ErrUnknownStream, stream)
	}
	want := created.UTC().Format(time.RFC3339Nano)
	return l.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if got := m.Get(originKey(stream)); got != nil {
			if string(got) != want {
				return fmt.Errorf("%w: it projects stream %s created %s, not the one created %s (delete the file to rebuild from this one)",
					ErrOtherLog, stream, got, want)
			}
			return nil
		}
		return m.Put(originKey(stream), []byte(want))
	})
}

// Dump writes every bucket, keys in order, one line per key:
// <bucket> <quoted key> <value> (JSON values as they are stored, counters
// in decimal, anything else quoted). Two ledgers with the same content dump
// the same bytes: the streams' origins (CheckOrigin) are left out.
func (l *Ledger) Dump(w io.Writer) error {
	return l.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if string(name) == string(bucketMeta) && strings.HasPrefix(string(k), "origin/") {
					return nil
				}
				var val string
				switch {
				case string(name) == string(bucketMeta) && len(v) == 8:
					val = fmt.Sprint(binary.BigEndian.Uint64(v))
				case printable(v):
					val = string(v)
				default:
					val = fmt.Sprintf("%q", v)
				}
				_, err := fmt.Fprintf(w, "%s %q %s\n", name, k, val)
				return err
			})
		})
	})
}

func printable(b []byte) bool {
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return false
		}
	}
	return true
}

func seqKey(stream string) []byte { return []byte("seq/" + stream) }

func getUint(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bolt.Bucket, k []byte, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	return b.Put(k, v[:])
}

func addUint(b *bolt.Bucket, k []byte) error { return putUint(b, k, getUint(b, k)+1) }

// lp is s prefixed by its length (uvarint), for keys.
func lp(s string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, len(s)+2), uint64(len(s)))
	return append(b, s...)
}

// timeKey orders times: Unix nanoseconds, big-endian, sign bit flipped;
// times outside int64 nanoseconds are clamped.
func timeKey(t time.Time) []byte {
	var n int64
	switch {
	case t.Before(minTime):
		n = math.MinInt64
	case t.After(maxTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n)^(1<<63))
	return b[:]
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// key concatenates key parts.
func key(parts ...[]byte) []byte {
	var n int
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// Addr is how the ledger keys an address: EVM (0x) addresses lowercased,
// others as they are.
func Addr(s string) string {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return strings.ToLower(s)
	}
	return s
}

// checkFields makes sure strings that go into keys are short enough.
func checkFields(fields ...string) error {
	for _, f := range fields {
		if len(f) > maxField {
			return fmt.Errorf("field of %d bytes, more than %d", len(f), maxField)
		}
	}
	return nil
}

func uvarint(b []byte) (uint64, int) { return binary.Uvarint(b) }

// Sync flushes the file to disk (after writes with NoSync).
func (l *Ledger) Sync() error { return l.db.Sync() }
