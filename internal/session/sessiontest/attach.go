package sessiontest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Attach connects like pods/attach: stdin lines go to the container's stdin (EOF from
// the client closes it: stdinOnce), the container's stdout comes back, and the call
// returns when the container exits, ctx ends, or the test cuts the stream (Break).
func (c *Cluster) Attach(ctx context.Context, ns, pod, ctr string, stdin io.Reader, stdout io.Writer) error {
	c.mu.Lock()
	k := c.cur[pod]
	hook := c.attachHook
	if k != nil {
		c.attaches = append(c.attaches, fmt.Sprintf("%s#%d", pod, k.restart))
	}
	c.mu.Unlock()
	if hook != nil {
		if err := hook(pod); err != nil {
			return err
		}
	}
	if ctr != helperpod.ContainerName {
		return fmt.Errorf("container %q not found in pod %s", ctr, pod)
	}
	if k == nil {
		return fmt.Errorf("pod %s has no running container", pod)
	}
	select {
	case <-k.exited:
		return fmt.Errorf("container %s#%d is not running", pod, k.restart)
	default:
	}
	k.setOut(stdout)
	k.attOnce.Do(func() { close(k.attached) })
	defer k.setOut(nil)
	c.wg.Add(1)
	go c.forwardStdin(k, stdin)
	select {
	case <-k.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-k.breakCh:
		k.closeStdin()
		return errors.New("error reading from error stream: connection reset by peer")
	}
}

// forwardStdin copies the client's stdin lines to the container, counting heartbeats
// and stop lines; the client's EOF closes the container's stdin.
func (c *Cluster) forwardStdin(k *Container, stdin io.Reader) {
	defer c.wg.Done()
	defer func() {
		if !k.keepStdin {
			k.closeStdin()
		}
	}()
	key := fmt.Sprintf("%s#%d", k.pod, k.restart)
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		c.mu.Lock()
		switch line {
		case plan.StdinHeartbeat:
			c.heartbeats[key]++
		case plan.StdinStop:
			c.stops[key]++
			k.stopOnce.Do(func() { close(k.stopped) })
		default:
			if step, ok := strings.CutPrefix(line, plan.StdinHeartbeat+" "); ok {
				c.heartbeats[key+" "+step]++ // a warm helper's step's heartbeat
			}
		}
		c.mu.Unlock()
		if _, err := io.WriteString(k.stdinW, line+"\n"); err != nil {
			return
		}
	}
}
