package settler

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/config"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.BatchSize != 64 || c.MaxDeliver != -1 || time.Duration(c.InProgressEvery) != 10*time.Second || c.AdminListen != "127.0.0.1:9403" {
		t.Errorf("defaults: got %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"negative batch size", func(c *Config) { c.BatchSize = -1 }, "settler.batchSize: must be between 1 and 10000 (got -1)"},
		{"keep-alive not shorter than ack wait", func(c *Config) { c.InProgressEvery = c.AckWait }, "settler.inProgressEvery"},
		{"keep-alive checked against backOff[0]", func(c *Config) {
			c.BackOff = []config.Duration{config.Duration(5 * time.Second)}
		}, "settler.inProgressEvery"},
		{"max deliver zero", func(c *Config) { c.MaxDeliver = 0 }, "settler.maxDeliver"},
		{"more backoffs than deliveries", func(c *Config) {
			c.MaxDeliver = 1
			c.BackOff = []config.Duration{config.Duration(time.Minute), config.Duration(time.Minute)}
		}, "settler.backOff: must not list more delays than maxDeliver"},
		{"retry cap below delay", func(c *Config) { c.RetryDelayMax = c.RetryDelay / 2 }, "settler.retryDelayMax"},
		{"parallel", func(c *Config) { c.Parallel = 5000 }, "settler.parallel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			c.Default()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	c := Config{RetryDelay: config.Duration(time.Second), RetryDelayMax: config.Duration(10 * time.Second)}
	for _, tt := range []struct {
		delivery uint64
		want     time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {1 << 40, 10 * time.Second}} {
		if got := c.retryDelay(tt.delivery); got != tt.want {
			t.Errorf("retryDelay(%d) = %s, want %s", tt.delivery, got, tt.want)
		}
	}
}

const fileYAML = `
networks:
  - namespace: solana
    networkId: localnet
    caip2: solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp
    rpc: ["${SOLANA_RPC}"]
    tokens:
      - {symbol: SOL, address: "11111111111111111111111111111111", decimals: 9, kind: native}
nats:
  url: ${NATS_URL:-nats://127.0.0.1:4222}
settler:
  batchSize: ${BATCH}
  ackWait: 10s
`

func TestParseFile(t *testing.T) {
	env := map[string]string{"SOLANA_RPC": "http://127.0.0.1:8899", "BATCH": "16"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f, err := ParseFile([]byte(fileYAML), lookup)
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	if f.Settler.BatchSize != 16 || time.Duration(f.Settler.AckWait) != 10*time.Second || time.Duration(f.Settler.InProgressEvery) != 10*time.Second/3 {
		t.Errorf("settler section: got %+v", f.Settler)
	}
	if f.NATS.URL != "nats://127.0.0.1:4222" || f.Networks[0].RPC[0] != "http://127.0.0.1:8899" || f.Verify.MaxValidity == 0 {
		t.Errorf("shared sections: got nats %q rpc %v verify %+v", f.NATS.URL, f.Networks[0].RPC, f.Verify)
	}

	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{"unset variable without default", fileYAML, map[string]string{"BATCH": "1"}, "environment variables not set: SOLANA_RPC"},
		{"unknown settler field", fileYAML + "  batchsize: 3\n", env, "field batchsize not found"},
		{"unknown top-level field", fileYAML + "settlr: {}\n", env, "field settlr not found"},
		{"the watcher section rides along", fileYAML + "watcher: {anything: 1}\n", env, ""},
		{"invalid settler value", strings.Replace(fileYAML, "ackWait: 10s", "ackWait: 1ms", 1), env, "settler.ackWait"},
		{"invalid shared value", strings.Replace(fileYAML, "decimals: 9", "decimals: 99", 1), env, "decimals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tt.yaml), func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestShippedConfigs: every file in configs/ loads as a settler config.
func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs/*.yaml: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseFile(b, config.ShippedConfigEnv)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if c.Settler.BatchSize != 100 {
			t.Errorf("%s: settler.batchSize = %d, want the file's 100", f, c.Settler.BatchSize)
		}
	}
}

// TestShippedConfigsDocumentEverySettlerField: the config files are user
// documentation (STYLE.md), so each shipped file's settler: section sets
// every field of Config, by its yaml name.
func TestShippedConfigsDocumentEverySettlerField(t *testing.T) {
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs/*.yaml: %v", err)
	}
	typ := reflect.TypeFor[Config]()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Settler map[string]any `yaml:"settler"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if _, ok := doc.Settler[name]; !ok {
				t.Errorf("%s: settler.%s is not in the file, want every field shown with its value", f, name)
			}
		}
	}
}
