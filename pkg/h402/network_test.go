package h402

import "testing"

func TestDefaultNetworkResolver(t *testing.T) {
	tests := []struct {
		network string
		want    NetworkRef
		reason  Reason
	}{
		{"base", NetworkRef{NamespaceEVM, "8453"}, ""},
		{"base-sepolia", NetworkRef{NamespaceEVM, "84532"}, ""},
		{"avalanche", NetworkRef{NamespaceEVM, "43114"}, ""},
		{"avalanche-fuji", NetworkRef{NamespaceEVM, "43113"}, ""},
		{"polygon", NetworkRef{NamespaceEVM, "137"}, ""},
		{"sei", NetworkRef{NamespaceEVM, "1329"}, ""},
		{"iotex", NetworkRef{NamespaceEVM, "4689"}, ""},
		{"solana", NetworkRef{NamespaceSolana, "mainnet"}, ""},
		{"solana-devnet", NetworkRef{NamespaceSolana, "devnet"}, ""},
		{"eip155:8453", NetworkRef{NamespaceEVM, "8453"}, ""},
		{"eip155:1337", NetworkRef{NamespaceEVM, "1337"}, ""},
		{CAIP2SolanaMainnet, NetworkRef{NamespaceSolana, "mainnet"}, ""},
		{CAIP2SolanaDevnet, NetworkRef{NamespaceSolana, "devnet"}, ""},
		{"", NetworkRef{}, ReasonInvalidNetwork},
		{"Base", NetworkRef{}, ReasonInvalidNetwork},
		{"eip155:", NetworkRef{}, ReasonInvalidNetwork},
		{"eip155:0", NetworkRef{}, ReasonInvalidNetwork},
		{"eip155:-1", NetworkRef{}, ReasonInvalidNetwork},
		{"eip155:12345678901234567890", NetworkRef{}, ReasonInvalidNetwork},
		{"solana:devnet", NetworkRef{}, ReasonInvalidNetwork},
		{"arkade", NetworkRef{}, ReasonInvalidNetwork},
	}
	for _, tc := range tests {
		t.Run(tc.network, func(t *testing.T) {
			got, err := DefaultNetworkResolver(tc.network)
			if tc.reason != "" {
				wantReason(t, err, tc.reason)
				return
			}
			if err != nil {
				t.Fatalf("DefaultNetworkResolver(%q): %v", tc.network, err)
			}
			if got != tc.want {
				t.Errorf("DefaultNetworkResolver(%q) = %+v, want %+v", tc.network, got, tc.want)
			}
		})
	}
}

func TestNetworkNames(t *testing.T) {
	for name, ref := range x402V1Networks {
		if got := V1NetworkName(ref); got != name {
			t.Errorf("V1NetworkName(%+v) = %q, want %q", ref, got, name)
		}
		caip := CAIP2(ref)
		back, err := DefaultNetworkResolver(caip)
		if err != nil || back != ref {
			t.Errorf("CAIP2(%+v) = %q resolves to %+v (%v), want the same network", ref, caip, back, err)
		}
	}
	if got := V1NetworkName(NetworkRef{NamespaceEVM, "1337"}); got != "" {
		t.Errorf("V1NetworkName(evm/1337) = %q, want none", got)
	}
	if got := CAIP2(NetworkRef{NamespaceSolana, "localnet"}); got != "" {
		t.Errorf("CAIP2(solana/localnet) = %q, want none (needs configuration)", got)
	}
	table := NetworkTable{"base-sepolia": {NamespaceEVM, "1337"}}
	if got, err := table.Resolve("base-sepolia"); err != nil || got.NetworkID != "1337" {
		t.Errorf("table override: got %+v %v, want evm/1337", got, err)
	}
	if got, err := table.Resolve("base"); err != nil || got.NetworkID != "8453" {
		t.Errorf("table fallback: got %+v %v, want evm/8453", got, err)
	}
}
