package watcher

import (
	"github.com/h402/settlement/pkg/config"

	"strings"
	"testing"
	"time"
)

// TestShippedConfigsParse: the dev config and the production example carry
// a watcher section the watcher reads (and the settler's, which it skips).
func TestShippedConfigsParse(t *testing.T) {
	env := config.ShippedConfigEnv
	for path, margin := range map[string]time.Duration{"../../configs/devnet.yaml": 30 * time.Second, "../../configs/production.example.yaml": time.Minute} {
		f, err := config.ReadFile(path, env, ParseFile)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if f.Watcher.AckWait == 0 || f.Watcher.LedgerPath == "" || time.Duration(f.Watcher.ResendMargin) != margin {
			t.Errorf("%s: watcher section not read: %+v", path, f.Watcher)
		}
	}
}

// TestConfigRefusesNonsense: each bad field is named.
func TestConfigRefusesNonsense(t *testing.T) {
	c := Config{AckWait: 1, MaxFollowing: -1, ConfirmBatch: 300}
	c.Default()
	err := c.Validate()
	for _, want := range []string{"watcher.ackWait", "watcher.maxFollowing", "watcher.confirmBatch"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
	if _, err := ParseFile([]byte("watcher:\n  ackwait: 3s\n"), func(string) (string, bool) { return "", false }); err == nil {
		t.Error("an unknown field (ackwait) was accepted")
	}
}
