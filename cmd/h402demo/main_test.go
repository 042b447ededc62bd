package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestParseFlags: keys come from the environment (or files), never flags;
// a missing key or an unknown kind is named.
func TestParseFlags(t *testing.T) {
	const evmKey = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	const solKey = "4Z7cXSyeFR8wNGMVXUE1TwtKn5D5Vu7FzEv69dokLv7KrQk7h6pu4LF8ZRR9yQBhc7uSM6RTTZtU1fmaxiNrxXrs"
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "both keys", env: map[string]string{"H402_DEMO_EVM_KEY": evmKey, "H402_DEMO_SOLANA_KEY": solKey}},
		{name: "EVM kinds only", args: []string{"-kinds", "evm-h402,evm-x402v2"}, env: map[string]string{"H402_DEMO_EVM_KEY": evmKey}},
		{name: "no Solana key", env: map[string]string{"H402_DEMO_EVM_KEY": evmKey}, wantErr: "the buyer's Solana key"},
		{name: "unknown kind", args: []string{"-kinds", "evm-signAndSendTransaction"}, wantErr: "unknown kind"},
		{name: "no key flag", args: []string{"-evm-key", evmKey}, wantErr: "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("H402_DEMO_EVM_KEY", "")
			t.Setenv("H402_DEMO_SOLANA_KEY", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			m := NewMain()
			m.ConfigPath = "../../configs/devnet.yaml"
			m.Stdout = new(bytes.Buffer)
			err := m.ParseFlags(append([]string{"-payments", "3"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.Payments != 3 || len(m.Config.Networks) == 0 || m.Config.EVMKey == nil {
				t.Errorf("config: %+v", m.Config)
			}
		})
	}
}
