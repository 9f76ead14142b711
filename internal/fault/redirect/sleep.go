package redirect

import (
	"context"
	"time"
)

// Sleep waits d or until ctx ends (then it returns ctx's error): how the kinds hold a
// query or a request for a delay fault without outliving the fault.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
