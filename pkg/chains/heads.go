package chains

import (
	"context"
	"time"
)

// FollowHeads asks head for the chain's head (block or slot) every period
// and calls onNew with each new one, until ctx ends. Errors of head are
// skipped: the next tick asks again.
func FollowHeads(ctx context.Context, every time.Duration, head func(context.Context) (uint64, error), onNew func(context.Context, uint64)) {
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h, err := head(ctx)
		if err != nil || h == last {
			continue
		}
		last = h
		onNew(ctx, h)
	}
}
