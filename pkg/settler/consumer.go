package settler

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// ConsumerName is the durable consumer of one network's accepted payments,
// shared by every settler replica: settler-<namespace>-<networkId>.
func ConsumerName(ns h402.Namespace, networkID string) string {
	return "settler-" + string(ns) + "-" + networkID
}

// ConsumerConfig is the pull consumer on PAYMENTS filtered to the network's
// accepted payments, with explicit acks.
func ConsumerConfig(ns h402.Namespace, networkID string, c Config) (jetstream.ConsumerConfig, error) {
	filters, err := events.PaymentAcceptedFilters(ns, networkID)
	if err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("settler consumer: %w", err)
	}
	backOff := make([]time.Duration, len(c.BackOff))
	for i, d := range c.BackOff {
		backOff[i] = time.Duration(d)
	}
	if len(backOff) == 0 {
		backOff = nil
	}
	return jetstream.ConsumerConfig{
		Durable:        ConsumerName(ns, networkID),
		Description:    "settlers of " + string(ns) + " network " + networkID,
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        time.Duration(c.AckWait),
		MaxDeliver:     c.MaxDeliver,
		BackOff:        backOff,
		// Every replica may hold a full batch; leave room for several.
		MaxAckPending: max(1000, 16*c.BatchSize),
	}, nil
}

// EnsureConsumer creates or updates the network's consumer; every replica
// calls it at start-up with the same configuration.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, ns h402.Namespace, networkID string, c Config) (jetstream.Consumer, error) {
	cc, err := ConsumerConfig(ns, networkID, c)
	if err != nil {
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, events.StreamPayments, cc)
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", cc.Durable, err)
	}
	return cons, nil
}
