package config

import (
	"os"
	"strings"
	"testing"

	"github.com/h402/settlement/pkg/h402"
)

// TestShippedProductionAndStaging: the production example is what README
// "Production" says it is (Base and Solana mainnet USDC with their real
// addresses, failover RPC lists, finality that never reverses, an external
// NATS cluster with credentials and R3), and the staging config of
// docker-compose.yml runs on the compose cluster with R3.
func TestShippedProductionAndStaging(t *testing.T) {
	env := ShippedConfigEnv
	load := func(path string) *Config {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(b, env)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return c
	}

	prod := load("../../configs/production.example.yaml")
	for _, want := range []struct{ ns, net, token, commitment string }{
		{"evm", "8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "finalized"},
		{"solana", "mainnet", "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "finalized"},
	} {
		n, err := prod.Networks.Lookup(h402.Namespace(want.ns), want.net)
		if err != nil {
			t.Errorf("production: %s %s: %v", want.ns, want.net, err)
			continue
		}
		if _, err := n.Token(want.token); err != nil {
			t.Errorf("production: %s %s USDC: %v", want.ns, want.net, err)
		}
		if n.Finality.Commitment != want.commitment {
			t.Errorf("production: %s %s finality %q, want %q", want.ns, want.net, n.Finality.Commitment, want.commitment)
		}
		if len(n.RPC) < 2 {
			t.Errorf("production: %s %s rpc %q, want a failover list", want.ns, want.net, n.RPC)
		}
	}
	if prod.NATS.URL == "" || prod.NATS.Replicas != 3 || prod.NATS.CredsFile == "" {
		t.Errorf("production nats: url %q, replicas %d, credsFile %q; want an external cluster, 3, credentials", prod.NATS.URL, prod.NATS.Replicas, prod.NATS.CredsFile)
	}

	st := load("../../configs/staging.yaml")
	if !strings.Contains(st.NATS.URL, "nats-a") || st.NATS.Replicas != 3 || st.NATS.User == "" || st.NATS.Password == "" {
		t.Errorf("staging nats: url %q, replicas %d, user %q; want the compose cluster, 3, a user", st.NATS.URL, st.NATS.Replicas, st.NATS.User)
	}
}
