package events

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/h402"
)

// ReceiptsFilter is the filter of a seller's receipts consumer: the one
// subject of a network when exactly one is named, else every network of the
// seller in the namespace (ReceiptsOfSeller). A filter is always a single
// subject, so that a consumer is created through the filtered API subject
// ($JS.API.CONSUMER.CREATE.<stream>.<consumer>.<filter>) that a seller's
// permissions can restrict to its own receipts.
func ReceiptsFilter(payTo string, ns h402.Namespace, networks []string) (string, error) {
	if len(networks) == 1 {
		return ReceiptSubject(payTo, ns, networks[0])
	}
	for _, n := range networks {
		if err := checkToken("networkId", n); err != nil {
			return "", err
		}
	}
	return ReceiptsOfSeller(payTo, ns)
}

// CheckConsumerName makes sure a consumer name is one subject token.
func CheckConsumerName(name string) error {
	return checkToken("consumer name", name)
}

// ReceiptsConsumer is a seller's durable pull consumer on RECEIPTS: filter
// ReceiptsFilter, every message from the start of the stream (a receiver
// skips what its checkpoint has), explicit acks, one receipt outstanding at
// a time so that receipts arrive in stream order (which is sellerSeq order
// on one subject), redelivered for ever.
func ReceiptsConsumer(name, payTo string, ns h402.Namespace, networks []string, ackWait time.Duration) (jetstream.ConsumerConfig, error) {
	if err := CheckConsumerName(name); err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("receipts consumer: %w", err)
	}
	filter, err := ReceiptsFilter(payTo, ns, networks)
	if err != nil {
		return jetstream.ConsumerConfig{}, fmt.Errorf("receipts consumer: %w", err)
	}
	return jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "receipts of seller " + payTo,
		FilterSubject: filter,
		// The networks chosen: under one filter (receipts.<payTo>.<ns>.>)
		// receipts of networks not chosen are acked unhandled, so a client
		// whose choice changed reads the stream again (pkg/receipts).
		Metadata:      map[string]string{ReceiptsNetworksKey: ReceiptsNetworks(networks)},
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: 1,
	}, nil
}

// ReceiptsNetworksKey is the consumer metadata key holding a receipts
// consumer's chosen networks (ReceiptsNetworks).
const ReceiptsNetworksKey = "h402.networks"

// ReceiptsNetworks is the metadata value of a choice of networks: "*" for
// every network of the namespace, else the ids sorted, comma-separated.
func ReceiptsNetworks(networks []string) string {
	if len(networks) == 0 {
		return "*"
	}
	s := slices.Clone(networks)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), ",")
}

// SellerInboxPrefix is the reply-subject prefix of a seller's connection
// (nats.CustomInboxPrefix): _INBOX_<consumer>. A seller may subscribe only
// under it, so it cannot listen to other clients' replies on _INBOX.>.
func SellerInboxPrefix(consumer string) string { return "_INBOX_" + consumer }
