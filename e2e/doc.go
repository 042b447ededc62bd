// Package e2e tests the settlement pipeline at its joints, through the real
// processes: cmd/ingest and cmd/settler built and run as subprocesses over an
// embedded JetStream server, the in-process EVM dev chain (chain id 84532, so
// x402 v1 clients can name it "base-sepolia") and the LiteSVM Solana
// localnet. Payments are made by the published x402 client libraries (npm
// x402 1.2.0 and @x402/* 2.27, driven through x402js/pay.mjs) and by this
// repository's h402 payer helpers, and every test checks the chain: the
// seller is paid exactly once.
//
// The package holds tests only. It needs node (20+) and the npm packages of
// x402js (scripts/deps.sh installs them); without them it fails, it never skips.
package e2e
