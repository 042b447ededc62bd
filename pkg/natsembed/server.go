package natsembed

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures an embedded server.
type Config struct {
	// StoreDir holds JetStream's files. Empty: a new temporary directory,
	// removed on Close.
	StoreDir string
	// Host to listen on; default 127.0.0.1 (never a public interface by default).
	Host string
	// Port to listen on; 0 picks a free one; -1 listens on no port (in-process
	// clients only).
	Port int
	// SyncAlways fsyncs every write (production durability; see DESIGN.md).
	SyncAlways bool
	// ReadyTimeout bounds start-up; default 10s.
	ReadyTimeout time.Duration
	// Users, when set, are the only clients the server accepts, each with
	// its service's permissions (auth.go). Empty: no authentication, for a
	// loopback development server only.
	Users []User
	// Cluster, when set, makes this server one node of a JetStream cluster
	// (tests run a 3-node cluster in one process: replicated streams answer
	// some errors differently from single-node ones).
	Cluster *Cluster
}

// Cluster is one node's cluster settings.
type Cluster struct {
	// Name of the cluster; ServerName of this node (unique in the cluster).
	Name, ServerName string
	// Port this node listens on for routes (on Config.Host).
	Port int
	// Routes are the other nodes' route URLs (nats-route://host:port).
	Routes []string
}

// Server is a running embedded NATS server with JetStream.
type Server struct {
	ns      *server.Server
	tempDir string
}

// Start starts the server and waits until it accepts connections.
func Start(cfg Config) (*Server, error) {
	s := &Server{}
	dir := cfg.StoreDir
	if dir == "" {
		d, err := os.MkdirTemp("", "h402-jetstream-*")
		if err != nil {
			return nil, fmt.Errorf("jetstream store dir: %w", err)
		}
		dir, s.tempDir = d, d
	}
	host := cfg.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := cfg.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "h402-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoLog:      true,
		NoSigs:     true,
		SyncAlways: cfg.SyncAlways,
		DontListen: cfg.Port < 0,
	}
	if c := cfg.Cluster; c != nil {
		opts.ServerName = c.ServerName
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: c.Port}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				s.cleanup()
				return nil, fmt.Errorf("nats server: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if err := applyUsers(opts, cfg.Users); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("nats server: %w", err)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("nats server: %w", err)
	}
	s.ns = ns
	ns.Start()
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if !ns.ReadyForConnections(timeout) {
		ns.Shutdown()
		s.cleanup()
		return nil, errors.New("nats server: not ready for connections within " + timeout.String())
	}
	return s, nil
}

// ClientURL is the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Connect opens a client connection, in process when the server has no port.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.ns), nats.Name("h402")}, opts...)
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("connect embedded nats: %w", err)
	}
	return nc, nil
}

// JetStream opens a connection and its JetStream context.
func (s *Server) JetStream(opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := s.Connect(opts...)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// StoreDir is where JetStream keeps its files.
func (s *Server) StoreDir() string { return s.ns.JetStreamConfig().StoreDir }

// Close shuts the server down, waits for it, and removes a temporary store.
func (s *Server) Close() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.cleanup()
}

func (s *Server) cleanup() {
	if s.tempDir != "" {
		_ = os.RemoveAll(s.tempDir)
	}
}
