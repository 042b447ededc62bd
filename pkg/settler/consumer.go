package settler

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/h402"
)

// ConsumerName is events.SettlerConsumerName.
func ConsumerName(ns h402.Namespace, networkID string) string {
	return events.SettlerConsumerName(ns, networkID)
}

// ConsumerConfig is events.SettlerConsumer with the settler's Config.
func ConsumerConfig(ns h402.Namespace, networkID string, c Config) (jetstream.ConsumerConfig, error) {
	backOff := make([]time.Duration, len(c.BackOff))
	for i, d := range c.BackOff {
		backOff[i] = time.Duration(d)
	}
	return events.SettlerConsumer(ns, networkID, events.SettlerConsumerSettings{
		AckWait: time.Duration(c.AckWait), MaxDeliver: c.MaxDeliver, BackOff: backOff, BatchSize: c.BatchSize,
	})
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
