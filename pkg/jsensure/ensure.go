// Package jsensure creates JetStream streams and key-value buckets at
// start-up without touching the ones that already have the wanted
// configuration.
//
// Every replica of every process ensures the streams and buckets it uses
// when it starts. jetstream's CreateOrUpdate* send an update request even
// when nothing changed, and a stream update rewrites the stream's store
// configuration while other replicas may be creating consumers on it (which
// nats-server 2.15 reads without a lock: the race detector reports it in our
// end-to-end tests). A create with the same configuration is answered with
// the existing stream and changes nothing, so the functions here create
// first and update only when the configuration differs.
package jsensure

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Stream creates the stream, or updates it when it exists with another
// configuration. updated reports whether an update was sent.
func Stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (s jetstream.Stream, updated bool, err error) {
	s, err = js.CreateStream(ctx, cfg)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, false, err
	}
	s, err = js.UpdateStream(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("update stream %s to the configured settings: %w", cfg.Name, err)
	}
	return s, true, nil
}

// KeyValue creates the bucket, or updates it when it exists with another
// configuration. updated reports whether an update was sent.
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (kv jetstream.KeyValue, updated bool, err error) {
	kv, err = js.CreateKeyValue(ctx, cfg)
	if err == nil {
		return kv, false, nil
	}
	if !errors.Is(err, jetstream.ErrBucketExists) {
		return nil, false, err
	}
	kv, err = js.UpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("update bucket %s to the configured settings: %w", cfg.Bucket, err)
	}
	return kv, true, nil
}
