// Package webhooks delivers receipts to sellers' HTTP endpoints in the
// Standard Webhooks format (https://www.standardwebhooks.com): headers
// webhook-id (the payment id, the same on every retry), webhook-timestamp
// (unix seconds of the attempt) and webhook-signature (v1,<base64
// HMAC-SHA256 of "id.timestamp.body"> per active secret, space-separated).
//
// A Dispatcher runs inside every watcher replica configured with webhooks.
// Each endpoint has its own durable JetStream consumer on RECEIPTS
// (webhook-<endpointId>, filtered to receipts.<payTo>.> of its sellers),
// shared by the replicas, so a slow endpoint never delays another. Retry
// state is the consumer's: a failed attempt is NakWithDelay'd with the
// schedule's delay for its delivery count, so deliveries survive restarts
// of every process. A new endpoint receives the receipts published after
// its consumer was created. Every attempt is recorded in the stream
// WEBHOOKS (webhooks.log.<endpointId>); a 410 answer disables the endpoint
// (bucket h402_webhooks, shared by the replicas) until it is enabled again,
// and the receipt answered 410 waits in the consumer with the others. Only
// receipts of the sellers the consumer's filter takes are posted. A
// consumer deleted under a running dispatcher is created again from just
// after the last receipt delivered.
package webhooks
