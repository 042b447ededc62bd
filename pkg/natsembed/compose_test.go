package natsembed_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
)

// composeFile is the part of docker-compose.yml this test reads.
type composeFile struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Volumes     []string          `yaml:"volumes"`
		Environment map[string]string `yaml:"environment"`
	} `yaml:"services"`
}

// TestComposeNATSRequiresServiceUsers: docker-compose.yml's NATS server
// (nats-a of the 3-node cluster), started here from the very config file
// the compose file mounts (its cluster block checked, then dropped: the
// other nodes' names resolve only on the compose network), with the
// passwords from the environment, accepts no anonymous client; each
// ingest, settler and watcher service of the compose file, loading the
// config file of its command with its compose environment, connects as
// its own user; ingest may publish an accepted payment and a settler may
// not. Before, the compose NATS ran with no authentication at all.
// scripts/staging-test.sh runs the whole stack in Docker.
func TestComposeNATSRequiresServiceUsers(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose composeFile
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	ns, ok := compose.Services["nats-a"]
	if !ok || len(ns.Command) != 2 || ns.Command[0] != "-c" {
		t.Fatalf("nats service: got command %q, want [-c <config file>]", ns.Command)
	}
	confPath := ""
	for _, v := range ns.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[0] == "./configs" && strings.HasPrefix(ns.Command[1], parts[1]+"/") {
			confPath = filepath.Join("../../configs", strings.TrimPrefix(ns.Command[1], parts[1]+"/"))
		}
	}
	if confPath == "" {
		t.Fatalf("nats service: config %s is not under a ./configs volume (%q)", ns.Command[1], ns.Volumes)
	}

	// The passwords, as the operator exports them for compose.
	passwordRef := regexp.MustCompile(`^\$\{(H402_NATS_[A-Z]+_PASSWORD):\?[^}]*\}$`)
	passwords := map[string]string{}
	for k, v := range ns.Environment {
		if k == "NATS_SERVER_NAME" {
			t.Setenv(k, v)
			continue
		}
		m := passwordRef.FindStringSubmatch(v)
		if m == nil || m[1] != k {
			t.Fatalf("nats service: %s=%q, want ${%s:?...} from the operator's environment", k, v, k)
		}
		passwords[k] = strings.ToLower(k) + "-0123456789abcdef"
		t.Setenv(k, passwords[k])
	}

	opts, err := server.ProcessConfigFile(confPath)
	if err != nil {
		t.Fatalf("nats-server config %s: %v", confPath, err)
	}
	if !opts.JetStream || !opts.SyncAlways {
		t.Errorf("%s: jetstream %v, sync always %v; want both", confPath, opts.JetStream, opts.SyncAlways)
	}
	if opts.Cluster.Name != "h402" || len(opts.Routes) != 3 || opts.ServerName != "nats-a" {
		t.Errorf("%s: cluster %q with %d routes, server name %q; want h402, 3 routes, nats-a", confPath, opts.Cluster.Name, len(opts.Routes), opts.ServerName)
	}
	opts.Cluster = server.ClusterOpts{}
	opts.Routes = nil
	opts.HTTPPort = 0
	opts.StoreDir = t.TempDir()
	opts.Port = server.RANDOM_PORT
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	if nc, err := nats.Connect(s.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("connected to the compose NATS without credentials, want refused")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	subj, err := events.PaymentAcceptedSubject("evm", "8453", "evm.8453.auth.a.b.c")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, name := range []string{"ingest-a", "ingest-b", "settler-a", "settler-b", "watcher-a", "watcher-b"} {
		svc, ok := compose.Services[name]
		if !ok {
			t.Fatalf("no service %s in docker-compose.yml", name)
		}
		n := len(svc.Command)
		if n < 2 || svc.Command[n-2] != "-config" || !strings.HasPrefix(svc.Command[n-1], "/etc/h402/") {
			t.Fatalf("%s: command %q, want ... -config /etc/h402/<file>", name, svc.Command)
		}
		cfgFile, err := os.ReadFile(filepath.Join("../../configs", strings.TrimPrefix(svc.Command[n-1], "/etc/h402/")))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range svc.Environment {
				if m := passwordRef.FindStringSubmatch(v); m != nil {
					v = passwords[m[1]]
				}
				env[k] = v
			}
			c, err := config.Parse(cfgFile, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if err != nil {
				t.Fatalf("%s with %s's environment: %v", svc.Command[n-1], name, err)
			}
			role := strings.TrimSuffix(strings.TrimSuffix(name, "-a"), "-b")
			if c.NATS.User != "h402-"+role || c.NATS.Password == "" {
				t.Fatalf("nats user %q (password set: %v), want h402-%s with a password", c.NATS.User, c.NATS.Password != "", role)
			}
			nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(c.NATS.User, c.NATS.Password))
			if err != nil {
				t.Fatalf("connect as %s: %v", c.NATS.User, err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			if err := events.Ensure(ctx, js, events.DefaultStreams()); err != nil {
				t.Fatalf("ensure the streams: %v", err)
			}
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = js.Publish(pctx, subj, []byte(`{}`), jetstream.WithMsgID(name))
			pcancel()
			if wantOK := role != "settler"; (err == nil) != wantOK { // a watcher sends payments back
				t.Errorf("publish an accepted payment: got %v, want allowed %v", err, wantOK)
			}
			seen[c.NATS.User] = true
		})
	}
	if len(seen) != 3 {
		t.Errorf("users seen: %v, want h402-ingest, h402-settler and h402-watcher", seen)
	}
}
