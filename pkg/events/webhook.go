package events

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/h402/settlement/pkg/jsensure"
)

// Webhook delivery (pkg/webhooks) keeps its state in JetStream: the
// stream WEBHOOKS holds the delivery log (webhooks.log.<endpointId>) and
// redelivery requests (webhooks.redeliver.<endpointId>); the bucket
// h402_webhooks holds endpoints added through the admin API and which
// endpoints are disabled.
const (
	StreamWebhooks = "WEBHOOKS"
	BucketWebhooks = "h402_webhooks"
	rootWebhooks   = "webhooks"
)

// CheckEndpointID makes sure a webhook endpoint id is one subject token of
// at most 64 characters.
func CheckEndpointID(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("endpoint id is %d characters, more than 64", len(id))
	}
	return checkToken("endpoint id", id)
}

// WebhookLogSubject is one endpoint's delivery log: webhooks.log.<endpointId>.
func WebhookLogSubject(endpointID string) (string, error) {
	return subject(rootWebhooks, "log", endpointID)
}

// WebhookRedeliverSubject carries redelivery requests of one endpoint:
// webhooks.redeliver.<endpointId>.
func WebhookRedeliverSubject(endpointID string) (string, error) {
	return subject(rootWebhooks, "redeliver", endpointID)
}

// WebhookReceiptFilter is the filter of one seller's receipts on every
// network: receipts.<payTo>.> (EVM addresses lowercased, as ReceiptSubject
// writes them).
func WebhookReceiptFilter(payTo string) (string, error) {
	if strings.HasPrefix(payTo, "0x") || strings.HasPrefix(payTo, "0X") {
		payTo = strings.ToLower(payTo)
	}
	if err := checkToken("payTo", payTo); err != nil {
		return "", err
	}
	return rootReceipts + "." + payTo + ".>", nil
}

// WebhookConsumerName is the durable consumer of one endpoint's receipts,
// shared by every watcher replica: webhook-<endpointId>.
func WebhookConsumerName(endpointID string) string { return "webhook-" + endpointID }

// WebhookRedeliverConsumerName is the durable consumer of one endpoint's
// redelivery requests: webhook-<endpointId>-redeliver.
func WebhookRedeliverConsumerName(endpointID string) string {
	return "webhook-" + endpointID + "-redeliver"
}

// WebhooksStream is the delivery log and redelivery stream; logMaxAge
// bounds how long attempts are kept.
func (c StreamsConfig) WebhooksStream(logMaxAge time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamWebhooks,
		Description: "webhook delivery log and redelivery requests, by endpoint",
		Subjects:    []string{rootWebhooks + ".>"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      logMaxAge,
		Duplicates:  c.Duplicates,
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		Discard:     jetstream.DiscardOld,
	}
}

// WebhooksBucket holds API-added endpoints (endpoint.<id>) and disabled
// marks (disabled.<id>).
func (c StreamsConfig) WebhooksBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketWebhooks,
		Description: "webhook endpoints added through the admin API, and disabled endpoints",
		Storage:     c.storage(),
		Replicas:    c.Replicas,
		History:     1,
	}
}

// EnsureWebhooks creates or updates the webhook stream and bucket
// (idempotent; every watcher replica running webhooks calls it).
func EnsureWebhooks(ctx context.Context, js jetstream.JetStream, c StreamsConfig, logMaxAge time.Duration) (jetstream.KeyValue, error) {
	sc := c.WebhooksStream(logMaxAge)
	// The delivery log's age is the operator's setting (logMaxAge): it follows the config both ways.
	if _, _, err := jsensure.Stream(ctx, js, sc, jsensure.AllowShrink()); err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", sc.Name, err)
	}
	kc := c.WebhooksBucket()
	kv, _, err := jsensure.KeyValue(ctx, js, kc)
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", kc.Bucket, err)
	}
	return kv, nil
}
