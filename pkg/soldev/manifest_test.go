package soldev

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/manifest.golden.json from a running localnet")

const goldenManifest = "testdata/manifest.golden.json"

// normalizeManifest replaces the per-run RPC URL so manifests compare across runs.
func normalizeManifest(t *testing.T, line []byte) []byte {
	t.Helper()
	var v map[string]interface{}
	if err := json.Unmarshal(line, &v); err != nil {
		t.Fatalf("manifest is not JSON: %v", err)
	}
	v["rpcUrl"] = "http://127.0.0.1:PORT"
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// checkGoldenManifest freezes the manifest format and the dev addresses: the
// same keys and mints on every start.
func checkGoldenManifest(t *testing.T, ln *Localnet) {
	t.Helper()
	line, err := json.Marshal(ln.rawManifest)
	if err != nil {
		t.Fatal(err)
	}
	got := normalizeManifest(t, line)
	if *update {
		if err := os.WriteFile(goldenManifest, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenManifest)
	if err != nil {
		t.Fatalf("read golden manifest (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("manifest differs from %s (run with -update if the change is intended):\ngot:\n%s", goldenManifest, got)
	}
}

func TestParseManifestRejects(t *testing.T) {
	golden, err := os.ReadFile(goldenManifest)
	if err != nil {
		t.Fatal(err)
	}
	valid := strings.Replace(string(golden), "http://127.0.0.1:PORT", "http://127.0.0.1:8899", 1)
	if _, err := ParseManifest([]byte(valid)); err != nil {
		t.Fatalf("golden manifest: %v", err)
	}
	// A secret key of another dev key: well-formed, but not the listed public key's.
	otherSecret := regexp.MustCompile(`"secretKey": "([^"]+)"`).FindAllStringSubmatch(valid, 2)[1][1]
	firstSecret := regexp.MustCompile(`"secretKey": "([^"]+)"`).FindStringSubmatch(valid)[1]
	for _, tc := range []struct {
		name, input, want string
	}{
		{"not json", "localnet listening", "decode localnet manifest"},
		{"empty object", "{}", "rpcUrl"},
		{"not http", strings.Replace(valid, "http://127.0.0.1:8899", "ftp://x", 1), "rpcUrl: want an http URL"},
		{"bad public key", strings.Replace(valid, `"address": "`, `"address": "0OIl`, 1), "decode localnet manifest"},
		{"mismatched secret key", strings.Replace(valid, firstSecret, otherSecret, 1), "does not belong to public key"},
		{"short secret key", strings.Replace(valid, firstSecret, "3yZe7d", 1), "secret key of"},
		{"zero expiry", strings.Replace(valid, `"blockhashExpirySlots": 150`, `"blockhashExpirySlots": 0`, 1), "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseManifest: got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	golden, err := os.ReadFile(filepath.Clean(goldenManifest))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.Replace(golden, []byte("PORT"), []byte("8899"), 1))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"rpcUrl":"http://127.0.0.1:1","payers":[{"publicKey":"11111111111111111111111111111111","secretKey":"1"}]}`))
	f.Add([]byte(`{"mintAuthority":{"publicKey":"x","secretKey":""}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		keys := []Keypair{m.MintAuthority, m.Seller.Keypair}
		for _, p := range m.Payers {
			keys = append(keys, p.Keypair)
		}
		keys = append(keys, m.FeePayers...)
		for _, k := range keys {
			if k.PrivateKey != nil && !k.PrivateKey.PublicKey().Equals(k.PublicKey) {
				t.Fatalf("parsed keypair %s has a secret key for %s", k.PublicKey, k.PrivateKey.PublicKey())
			}
		}
	})
}
