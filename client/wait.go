package client

import (
	"context"
	"fmt"
	"time"
)

// WaitFinal polls the transaction's status until it is no longer IN_PROGRESS
// (COMPLETED, CANCELED, TO_REVIEW or UNKNOWN) and returns it. Waits between
// polls grow from the first poll interval to the longest (WithPolling), and
// never end before the server's next check when that is later. It returns the
// context's error, with the last status seen, when ctx ends first; API errors
// other than retried 429/503 end it at once.
func (c *Client) WaitFinal(ctx context.Context, transactionID string) (Status, error) {
	wait := c.pollMin
	var last Status
	for {
		st, err := c.Status(ctx, transactionID)
		if err != nil {
			if ctx.Err() != nil {
				return last, fmt.Errorf("client: wait for %s: last status %q: %w", transactionID, last.Status, ctx.Err())
			}
			return last, err
		}
		last = st
		if !st.Status.Checking() {
			return st, nil
		}
		d := wait
		if st.NextCheckAt != nil {
			if untilNext := st.NextCheckAt.Sub(c.now()) + 100*time.Millisecond; untilNext > d {
				d = min(untilNext, c.pollMax)
			}
		}
		if err := c.sleep(ctx, d); err != nil {
			return st, fmt.Errorf("client: wait for %s: last status %s: %w", transactionID, st.Status, err)
		}
		wait = min(wait*3/2, c.pollMax)
	}
}
