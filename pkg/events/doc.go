// Package events is the pipeline's shared vocabulary: versioned event types,
// subject builders, and the configuration of the JetStream streams and KV
// buckets. No subject string is written outside this package.
//
// Records: PaymentAccepted (ingest), Transition (appended only through
// StateLog.Append, compare-and-set per payment), Settlement and DeadLetter
// (settlers), Receipt (watcher, PublishReceipt). Each has a version, a
// golden file in testdata/ and a Nats-Msg-Id scheme defined here
// (TransitionMsgID, SettlementMsgID, DeadMsgID, GaveUpMsgID,
// UnreadableMsgID, ResendMsgID, ReceiptMsgID). StateLog.SendBack returns a
// payment to settlement.
package events
