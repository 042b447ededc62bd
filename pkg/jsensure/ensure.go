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
// An update that would keep less (a shorter max age or dedup window, fewer
// replicas, messages, bytes or history) is refused with ErrWouldShrink
// unless the caller allows it: a process started with a development
// config against production streams would otherwise cut the event log,
// the replay keys or the claims every other process relies on.
package jsensure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrWouldShrink is matched (errors.Is) by the error of an ensure whose
// configuration would keep less than the existing stream or bucket.
var ErrWouldShrink = errors.New("the configured settings would shrink an existing stream")

// Option changes how an ensure treats an existing stream or bucket.
type Option func(*options)

type options struct{ allowShrink bool }

// AllowShrink lets an update keep less than the existing configuration
// (for streams whose retention is an operator's setting, not a guarantee
// others rely on: a delivery log, a lease TTL).
func AllowShrink() Option { return func(o *options) { o.allowShrink = true } }

func apply(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Stream creates the stream, or updates it when it exists with another
// configuration. updated reports whether an update was sent.
func Stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, opts ...Option) (s jetstream.Stream, updated bool, err error) {
	s, err = js.CreateStream(ctx, cfg)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, false, err
	}
	if !apply(opts).allowShrink {
		cur, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			return nil, false, fmt.Errorf("read stream %s: %w", cfg.Name, err)
		}
		if err := checkShrink("stream "+cfg.Name, cur.CachedInfo().Config, cfg); err != nil {
			return nil, false, err
		}
	}
	s, err = js.UpdateStream(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("update stream %s to the configured settings: %w", cfg.Name, err)
	}
	return s, true, nil
}

// KeyValue creates the bucket, or updates it when it exists with another
// configuration. updated reports whether an update was sent.
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, opts ...Option) (kv jetstream.KeyValue, updated bool, err error) {
	kv, err = js.CreateKeyValue(ctx, cfg)
	if err == nil {
		return kv, false, nil
	}
	if !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, false, err
	}
	if !apply(opts).allowShrink {
		cur, err := js.Stream(ctx, "KV_"+cfg.Bucket)
		if err != nil {
			return nil, false, fmt.Errorf("read bucket %s: %w", cfg.Bucket, err)
		}
		history := int64(cfg.History)
		if history < 1 {
			history = 1
		}
		// The bucket's settings as its stream holds them.
		want := jetstream.StreamConfig{MaxAge: cfg.TTL, MaxMsgsPerSubject: history, MaxBytes: cfg.MaxBytes, Replicas: cfg.Replicas}
		if err := checkShrink("bucket "+cfg.Bucket, cur.CachedInfo().Config, want); err != nil {
			return nil, false, err
		}
	}
	kv, err = js.UpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("update bucket %s to the configured settings: %w", cfg.Bucket, err)
	}
	return kv, true, nil
}

// checkShrink returns an ErrWouldShrink naming each setting of want that
// keeps less than cur. Zero or negative limits are unlimited; a zero
// dedup window is the server's default and not compared.
func checkShrink(what string, cur, want jetstream.StreamConfig) error {
	var less []string
	limit := func(name string, c, w int64, show func(int64) string) {
		if w > 0 && (c <= 0 || w < c) {
			cs := "unlimited"
			if c > 0 {
				cs = show(c)
			}
			less = append(less, fmt.Sprintf("%s %s → %s", name, cs, show(w)))
		}
	}
	num := func(v int64) string { return fmt.Sprint(v) }
	dur := func(v int64) string { return time.Duration(v).String() }
	limit("max age", int64(cur.MaxAge), int64(want.MaxAge), dur)
	limit("max messages", cur.MaxMsgs, want.MaxMsgs, num)
	limit("max bytes", cur.MaxBytes, want.MaxBytes, num)
	limit("max messages per subject", cur.MaxMsgsPerSubject, want.MaxMsgsPerSubject, num)
	if want.Duplicates > 0 && cur.Duplicates > 0 && want.Duplicates < cur.Duplicates {
		less = append(less, fmt.Sprintf("duplicate window %s → %s", cur.Duplicates, want.Duplicates))
	}
	if replicas := max(cur.Replicas, 1); max(want.Replicas, 1) < replicas {
		less = append(less, fmt.Sprintf("replicas %d → %d", replicas, max(want.Replicas, 1)))
	}
	if len(less) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %s; other processes rely on what it keeps. Check this process's nats settings, or change the %s deliberately (nats CLI)",
		ErrWouldShrink, what, strings.Join(less, ", "), strings.SplitN(what, " ", 2)[0])
}
