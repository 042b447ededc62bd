package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/h402/settlement/pkg/config"
	"github.com/h402/settlement/pkg/events"
	"github.com/h402/settlement/pkg/natsembed"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Conn is a binary's connection to the event log: an external server, or an
// embedded one it started.
type Conn struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Embedded *natsembed.Server // nil when external
	Streams  events.StreamsConfig
}

// StreamsConfig turns the NATS config into stream sizes.
func StreamsConfig(c config.NATS) events.StreamsConfig {
	return events.StreamsConfig{
		Replicas:   c.Replicas,
		MaxAge:     time.Duration(c.MaxAge),
		Duplicates: time.Duration(c.Duplicates),
		ReplayTTL:  time.Duration(c.ReplayTTL),
	}
}

// Open connects to c.URL, or starts the embedded server when it is empty,
// and makes sure the streams and buckets exist.
func Open(ctx context.Context, c config.NATS, name string, log *slog.Logger) (*Conn, error) {
	conn := &Conn{Streams: StreamsConfig(c)}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nats.nkeySeedFile: %w", err)
		}
		opts = append(opts, o)
	}
	var err error
	if c.URL == "" {
		users := make([]natsembed.User, len(c.Embedded.Users))
		for i, u := range c.Embedded.Users {
			users[i] = natsembed.User{Name: u.User, Password: u.Password, NKey: u.NKey, Service: u.Service}
		}
		conn.Embedded, err = natsembed.Start(natsembed.Config{
			StoreDir:   c.Embedded.StoreDir,
			Host:       c.Embedded.Host,
			Port:       c.Embedded.Port,
			SyncAlways: c.Embedded.SyncAlways != nil && *c.Embedded.SyncAlways,
			Users:      users,
		})
		if err != nil {
			return nil, err
		}
		log.Info("embedded JetStream started", "store", conn.Embedded.StoreDir(), "url", conn.Embedded.ClientURL())
		conn.NC, err = conn.Embedded.Connect(opts...)
	} else {
		if c.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(c.CredsFile))
		}
		conn.NC, err = nats.Connect(c.URL, opts...)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("connect nats: %w", err)
	}
	if conn.JS, err = jetstream.New(conn.NC); err != nil {
		conn.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	notes, err := ensureWhenAvailable(ctx, conn.NC, conn.JS, conn.Streams, log)
	if err != nil {
		conn.Close()
		return nil, err
	}
	for _, n := range notes {
		log.Warn("event log configuration differs from this process's nats settings", "note", n)
	}
	return conn, nil
}

// StartupWait bounds how long Open keeps ensuring the streams while
// JetStream answers that it is not available: a cluster starting with its
// processes elects a meta leader, and places new replicated streams, while
// they already ask for them.
const StartupWait = 2 * time.Minute

// ensureWhenAvailable runs events.EnsureReport until it succeeds, fails for
// another reason than JetStream being unavailable, or StartupWait passes.
// A request the server refused for lack of permission times out like one
// to a cluster without a leader; nc's last error tells them apart.
func ensureWhenAvailable(ctx context.Context, nc *nats.Conn, js jetstream.JetStream, s events.StreamsConfig, log *slog.Logger) ([]string, error) {
	deadline := time.Now().Add(StartupWait)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		notes, err := events.EnsureReport(actx, js, s)
		cancel()
		if err == nil || !unavailable(err) || ctx.Err() != nil {
			return notes, err
		}
		if pv := nc.LastError(); errors.Is(pv, nats.ErrPermissionViolation) {
			return notes, fmt.Errorf("%w: the server refused this user (%w)", err, pv)
		}
		if time.Now().After(deadline) {
			return notes, fmt.Errorf("JetStream was not available within %s: %w", StartupWait, err)
		}
		log.Warn("JetStream not available yet; ensuring the streams again", "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// transientCodes are the JetStream API error codes (nats-server's
// errors.json) that say the cluster cannot answer yet, rather than that it
// refuses the request. The HTTP-like code cannot tell them apart: a
// configuration an update cannot apply (10052, "can not change storage
// type") or exceeded limits (10047) are answered 500 too, and waiting two
// minutes for them only delays the error an operator must read.
var transientCodes = map[jetstream.ErrorCode]bool{
	10004: true, // JSClusterIncompleteErr: incomplete results
	10005: true, // JSClusterNoPeersErrF: no suitable peers for placement (fewer nodes than replicas yet)
	10008: true, // JSClusterNotAvailErr: JetStream system temporarily unavailable
	10009: true, // JSClusterNotLeaderErr: JetStream cluster can not handle request
	10041: true, // JSRaftGeneralErrF: a proposal failed (leader changing)
}

// unavailable reports whether err says JetStream cannot answer yet (no
// responders, a timeout, one of transientCodes), rather than refusing the
// request.
func unavailable(err error) bool {
	// First: ErrJetStreamNotEnabled is an APIError (10076) too.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && transientCodes[apiErr.ErrorCode]
}

// Close drains the connection (flushing pending publishes) and stops an
// embedded server last.
func (c *Conn) Close() {
	if c.NC != nil && c.NC.IsConnected() {
		done := make(chan struct{})
		c.NC.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := c.NC.Drain(); err == nil {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
	}
	if c.NC != nil {
		c.NC.Close()
	}
	if c.Embedded != nil {
		c.Embedded.Close()
	}
}
