package eventlog

import (
	"context"
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
	updated, err := events.EnsureReport(ctx, conn.JS, conn.Streams)
	if err != nil {
		conn.Close()
		return nil, err
	}
	for _, what := range updated {
		log.Warn("event log configuration updated to this process's settings", "what", what)
	}
	return conn, nil
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
