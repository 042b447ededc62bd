package events

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/h402"
)

// BucketClaims holds, per payment id, the transaction a settler recorded
// before broadcasting it.
const BucketClaims = "h402_claims"

// ClaimsBucket is the claims bucket's configuration. Claims live as long as
// replay keys: longer than any payment can stay valid, so a redelivered
// payment always finds what was recorded for it.
func (c StreamsConfig) ClaimsBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketClaims,
		Description: "transactions settlers recorded before broadcasting, by payment id",
		TTL:         c.ReplayTTL,
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		History:     1,
	}
}

// SettlerConsumerName is the durable consumer of one network's accepted
// payments, shared by every settler replica: settler-<namespace>-<networkId>.
func SettlerConsumerName(ns h402.Namespace, networkID string) string {
	return "settler-" + string(ns) + "-" + networkID
}

// SettlerConsumerSettings are the settler's tunables of its consumer.
type SettlerConsumerSettings struct {
	AckWait    time.Duration
	MaxDeliver int
	BackOff    []time.Duration
	BatchSize  int
}

// SettlerConsumer is the pull consumer on PAYMENTS filtered to one
// network's accepted payments (PaymentAcceptedFilters), with explicit acks.
// A payment sent back for settlement (SendBack) arrives on it again.
func SettlerConsumer(ns h402.Namespace, networkID string, s SettlerConsumerSettings) (jetstream.ConsumerConfig, error) {
	filters, err := PaymentAcceptedFilters(ns, networkID)
	if err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("settler consumer: %w", err)
	}
	var backOff []time.Duration
	if len(s.BackOff) > 0 {
		backOff = append(backOff, s.BackOff...)
	}
	return jetstream.ConsumerConfig{
		Durable:        SettlerConsumerName(ns, networkID),
		Description:    "settlers of " + string(ns) + " network " + networkID,
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.AckWait,
		MaxDeliver:     s.MaxDeliver,
		BackOff:        backOff,
		// Every replica may hold a full batch; leave room for several.
		MaxAckPending: max(1000, 16*s.BatchSize),
	}, nil
}

// ReleaseConsumerName is the durable consumer that releases payer exposure
// for terminal transitions (one for the whole pipeline, shared by every
// process that runs a releaser).
const ReleaseConsumerName = "exposure-release"

// ReleaseConsumer is the pull consumer on every payment's state
// transitions (StateWildcard) that releases exposure for terminal ones.
func ReleaseConsumer(ackWait time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ReleaseConsumerName,
		Description:   "releases payer exposure when a payment reaches a terminal state",
		FilterSubject: StateWildcard,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 4096,
	}
}

// WatcherConsumerName is the durable consumer of one network's state
// transitions shared by every watcher replica: watcher-<namespace>-<networkId>.
func WatcherConsumerName(ns h402.Namespace, networkID string) string {
	return "watcher-" + string(ns) + "-" + networkID
}

// WatcherConsumer is the pull consumer on one network's state transitions
// (payments.state.<ns>.<net>.>), with explicit acks. A watcher holds each
// `submitted` transition unacked while it follows the payment to a
// terminal state (InProgress keeps it), so that when it dies the payment is
// delivered to another replica after ackWait; maxFollowing bounds how many
// payments are followed at once.
func WatcherConsumer(ns h402.Namespace, networkID string, ackWait time.Duration, maxFollowing int) (jetstream.ConsumerConfig, error) {
	base, err := subject(rootPayments, "state", string(ns), networkID)
	if err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("watcher consumer: %w", err)
	}
	return jetstream.ConsumerConfig{
		Durable:       WatcherConsumerName(ns, networkID),
		Description:   "watchers of " + string(ns) + " network " + networkID,
		FilterSubject: base + ".>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: maxFollowing,
	}, nil
}
