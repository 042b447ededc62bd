package soldev

import (
	"context"
	"testing"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
)

// BenchmarkSendTransaction measures how many client-signed SPL payments the
// localnet accepts per second through solana-go (one client, sequential).
// Transactions are built and signed before the timer starts.
//
//	go test -run '^$' -bench SendTransaction -benchtime 2000x ./pkg/soldev/
func BenchmarkSendTransaction(b *testing.B) {
	ctx := context.Background()
	ln := StartT(b, Config{})
	bh, err := ln.RPC().GetLatestBlockhash(ctx, rpc.CommitmentProcessed)
	if err != nil {
		b.Fatal(err)
	}
	payers := ln.Payers()
	next := uint64(0) // distinct amounts keep every transaction distinct across benchmark runs
	for _, bc := range []struct {
		name string
		opts rpc.TransactionOpts
	}{
		{"preflight", rpc.TransactionOpts{}},
		{"skipPreflight", rpc.TransactionOpts{SkipPreflight: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			txs := make([]*solana.Transaction, b.N)
			for i := range txs {
				next++
				txs[i] = buildPaymentTx(b, bh.Value.Blockhash, payment{
					payer: payers[i%len(payers)], payTo: ln.Seller(), mint: &ln.Mints.USDC,
					amount: next, cuLimit: 20_000, cuPrice: 1,
				})
			}
			b.ResetTimer()
			start := time.Now()
			for _, tx := range txs {
				if _, err := ln.RPC().SendTransactionWithOpts(ctx, tx, bc.opts); err != nil {
					b.Fatalf("sendTransaction: %v", err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
		})
	}
}
