// Package jsensure creates JetStream streams and key-value buckets at
// start-up without touching the ones that already have the wanted
// configuration, and without letting one process's settings shrink what
// the others rely on.
//
// Every replica of every process ensures the streams and buckets it uses
// when it starts. jetstream's CreateOrUpdate* send an update request even
// when nothing changed, and a stream update rewrites the stream's store
// configuration while other replicas may be creating consumers on it (which
// nats-server 2.15 reads without a lock: the race detector reports it in our
// end-to-end tests). A create with the same configuration is answered with
// the existing stream and changes nothing, so the functions here create
// first and update only when the configuration differs.
//
// Where the existing stream or bucket keeps more than the configuration
// asks (a longer max age or dedup window, more replicas, messages, bytes or
// history, or no limit), that setting is kept: a process started with a
// development config against production streams would otherwise cut the
// event log, the replay keys or the claims every other process relies on,
// and an operator who raised a limit with the nats CLI would see it undone
// by the next start. Outcome.Kept names what was kept. AllowShrink turns
// this off for settings that are the operator's to lower (a delivery log's
// age, a lease TTL).
package jsensure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Outcome is what an ensure did to an existing stream or bucket.
type Outcome struct {
	// Updated: an update was sent (the configuration differed).
	Updated bool
	// Kept names each setting left larger than configured, as "max age
	// 2160h0m0s (configured 1h0m0s)".
	Kept []string
}

// Option changes how an ensure treats an existing stream or bucket.
type Option func(*options)

type options struct{ allowShrink bool }

// AllowShrink applies the configuration even where it keeps less.
func AllowShrink() Option { return func(o *options) { o.allowShrink = true } }

func apply(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Stream creates the stream, or updates it when it exists with another
// configuration, keeping the settings where it keeps more.
func Stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, opts ...Option) (jetstream.Stream, Outcome, error) {
	s, err := js.CreateStream(ctx, cfg)
	if err == nil {
		return s, Outcome{}, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, Outcome{}, err
	}
	var out Outcome
	if !apply(opts).allowShrink {
		cur, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			return nil, Outcome{}, fmt.Errorf("read stream %s: %w", cfg.Name, err)
		}
		c := cur.CachedInfo().Config
		if out.Kept = keepLarger(c, &cfg); len(out.Kept) > 0 {
			// With those kept the configuration may now be the stream's
			// own: then the create answers with it and nothing is sent.
			if s, err := js.CreateStream(ctx, cfg); err == nil {
				return s, out, nil
			} else if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return nil, out, err
			}
		}
	}
	s, err = js.UpdateStream(ctx, cfg)
	if err != nil {
		return nil, out, fmt.Errorf("update stream %s to the configured settings: %w", cfg.Name, err)
	}
	out.Updated = true
	return s, out, nil
}

// KeyValue creates the bucket, or updates it when it exists with another
// configuration, keeping the settings where it keeps more.
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, opts ...Option) (jetstream.KeyValue, Outcome, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if err == nil {
		return kv, Outcome{}, nil
	}
	if !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, Outcome{}, err
	}
	var out Outcome
	if !apply(opts).allowShrink {
		cur, err := js.Stream(ctx, "KV_"+cfg.Bucket)
		if err != nil {
			return nil, Outcome{}, fmt.Errorf("read bucket %s: %w", cfg.Bucket, err)
		}
		// The bucket's settings as its stream holds them.
		want := jetstream.StreamConfig{MaxAge: cfg.TTL, MaxMsgsPerSubject: int64(max(cfg.History, 1)), MaxBytes: cfg.MaxBytes, Replicas: cfg.Replicas}
		if out.Kept = keepLarger(cur.CachedInfo().Config, &want); len(out.Kept) > 0 {
			cfg.TTL, cfg.MaxBytes, cfg.Replicas = want.MaxAge, want.MaxBytes, want.Replicas
			if h := want.MaxMsgsPerSubject; h >= 1 && h <= jetstream.KeyValueMaxHistory {
				cfg.History = uint8(h)
			}
			if kv, err := js.CreateKeyValue(ctx, cfg); err == nil {
				return kv, out, nil
			} else if !errors.Is(err, jetstream.ErrBucketExists) {
				return nil, out, err
			}
		}
	}
	kv, err = js.UpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, out, fmt.Errorf("update bucket %s to the configured settings: %w", cfg.Bucket, err)
	}
	out.Updated = true
	return kv, out, nil
}

// keepLarger raises each setting of want that keeps less than cur to cur's,
// and names them. Zero or negative limits are unlimited; a zero dedup
// window is the server's default and left alone.
func keepLarger(cur jetstream.StreamConfig, want *jetstream.StreamConfig) []string {
	var kept []string
	limit := func(name string, c int64, w *int64, show func(int64) string) {
		if *w > 0 && (c <= 0 || *w < c) {
			cs := "unlimited"
			if c > 0 {
				cs = show(c)
			}
			kept = append(kept, fmt.Sprintf("%s %s (configured %s)", name, cs, show(*w)))
			*w = c
		}
	}
	num := func(v int64) string { return fmt.Sprint(v) }
	dur := func(v int64) string { return time.Duration(v).String() }
	age := int64(want.MaxAge)
	limit("max age", int64(cur.MaxAge), &age, dur)
	want.MaxAge = time.Duration(max(age, 0))
	limit("max messages", cur.MaxMsgs, &want.MaxMsgs, num)
	limit("max bytes", cur.MaxBytes, &want.MaxBytes, num)
	limit("max messages per subject", cur.MaxMsgsPerSubject, &want.MaxMsgsPerSubject, num)
	if want.Duplicates > 0 && cur.Duplicates > want.Duplicates {
		kept = append(kept, fmt.Sprintf("duplicate window %s (configured %s)", cur.Duplicates, want.Duplicates))
		want.Duplicates = cur.Duplicates
	}
	if cur.Replicas > max(want.Replicas, 1) {
		kept = append(kept, fmt.Sprintf("replicas %d (configured %d)", cur.Replicas, max(want.Replicas, 1)))
		want.Replicas = cur.Replicas
	}
	return kept
}
