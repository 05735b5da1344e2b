package supervise

import (
	"context"
	"fmt"
	"strconv"
)

// do runs f in the run's goroutine and returns its error. ctx bounds
// the wait: when it ends first, do returns ctx.Err() and f may still
// run (and completes).
func (s *Supervisor) do(ctx context.Context, f func(ctx context.Context, l *loop) error) error {
	s.mu.Lock()
	closedNow, r := s.closed, s.cur
	s.mu.Unlock()
	if closedNow {
		return ErrClosed
	}
	if r == nil {
		return ErrNotRunning
	}
	req := request{ctx: ctx, do: f, reply: make(chan error, 1)}
	select {
	case r.reqs <- req:
	case <-r.done:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sync returns once the run's goroutine has handled every message that
// reached it before: a test seam.
func (s *Supervisor) sync(ctx context.Context) error {
	return s.do(ctx, func(context.Context, *loop) error { return nil })
}

// StartChild adds a child to a running static supervisor, after the
// others, and starts it (OTP's start_child). It returns ErrNameTaken
// when a child of that name exists, and the child's start error
// (matching ErrStartFailed) when it does not start, in which case it is
// not added. A child added so belongs to this run: it is removed (and
// closed) when the run ends. ctx bounds the call and the child's Start.
func (s *Supervisor) StartChild(ctx context.Context, spec Spec) error {
	if s.strategy == SimpleOneForOne {
		return fmt.Errorf("%w: StartChild on a SimpleOneForOne supervisor (use Spawn)", ErrStrategy)
	}
	if err := checkSpec(spec, s.cfg.auto); err != nil {
		return err
	}
	return s.do(ctx, func(ctx context.Context, l *loop) error {
		return l.add(ctx, newChild(spec, true))
	})
}

// add starts c and appends it to the children.
func (l *loop) add(ctx context.Context, c *child) error {
	if l.find(c.spec.Name) != nil {
		return fmt.Errorf("%w: %q", ErrNameTaken, c.spec.Name)
	}
	l.s.mu.Lock()
	l.s.children = append(l.s.children, c)
	l.s.mu.Unlock()
	if err := l.startChild(ctx, c); err != nil {
		l.s.mu.Lock()
		l.s.children = l.s.children[:len(l.s.children)-1]
		l.s.mu.Unlock()
		l.closeLater(c)
		return fmt.Errorf("%w: %s: %w", ErrStartFailed, c.spec.Name, err)
	}
	return nil
}

// Spawn makes a child of a running SimpleOneForOne supervisor with its
// template's New(name, arg) and starts it. An empty name gets a
// generated one, "<supervisor>-<n>"; Spawn returns the name. The child
// is removed (and closed) when it ends without being restarted and when
// the run ends. ctx bounds the call and the child's Start.
func (s *Supervisor) Spawn(ctx context.Context, name string, arg any) (string, error) {
	if s.strategy != SimpleOneForOne {
		return "", fmt.Errorf("%w: Spawn needs a SimpleOneForOne supervisor", ErrStrategy)
	}
	err := s.do(ctx, func(ctx context.Context, l *loop) error {
		if name == "" {
			for name == "" || l.find(name) != nil {
				l.seq++
				name = s.name + "-" + strconv.Itoa(l.seq)
			}
		}
		if l.find(name) != nil {
			return fmt.Errorf("%w: %q", ErrNameTaken, name)
		}
		t := s.cfg.template
		ch, err := t.New(name, arg)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrStartFailed, name, err)
		}
		if ch == nil {
			return fmt.Errorf("%w: %s: the template made a nil child", ErrStartFailed, name)
		}
		sp := Spec{Name: name, Child: ch, Restart: t.Restart, Shutdown: t.Shutdown, Significant: t.Significant}
		return l.add(ctx, newChild(sp, true))
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

// TerminateChild stops a child within its shutdown (OTP's
// terminate_child). A static child's spec is kept (RestartChild starts
// it again) unless it is Temporary; a SimpleOneForOne child is removed.
// Stopping it is not an exit: it triggers no restart and no
// auto-shutdown. A child waiting for its restart stays stopped.
func (s *Supervisor) TerminateChild(ctx context.Context, name string) error {
	return s.do(ctx, func(ctx context.Context, l *loop) error {
		c := l.find(name)
		if c == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		switch c.state {
		case ChildRunning:
			l.stopChild(context.Background(), c)
		case ChildRestarting:
			l.s.setChild(c, ChildStopped, 0)
		}
		if c.spec.Restart == Temporary || s.strategy == SimpleOneForOne {
			l.remove(c)
		}
		return nil
	})
}

// RestartChild starts a stopped child of a static supervisor again
// (OTP's restart_child). It returns ErrRunning or ErrRestarting for a
// child that runs or waits for its restart, and the child's start error
// (matching ErrStartFailed) when it does not start.
func (s *Supervisor) RestartChild(ctx context.Context, name string) error {
	if s.strategy == SimpleOneForOne {
		return fmt.Errorf("%w: RestartChild on a SimpleOneForOne supervisor", ErrStrategy)
	}
	return s.do(ctx, func(ctx context.Context, l *loop) error {
		c, err := l.stoppedChild(name)
		if err != nil {
			return err
		}
		if err := l.startChild(ctx, c); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrStartFailed, name, err)
		}
		return nil
	})
}

// DeleteChild removes a stopped child's spec from a static supervisor
// for the rest of the run (OTP's delete_child); a child from New's
// specs comes back at the next Start. It returns ErrRunning or
// ErrRestarting for a child that runs or waits for its restart.
func (s *Supervisor) DeleteChild(ctx context.Context, name string) error {
	if s.strategy == SimpleOneForOne {
		return fmt.Errorf("%w: DeleteChild on a SimpleOneForOne supervisor", ErrStrategy)
	}
	return s.do(ctx, func(ctx context.Context, l *loop) error {
		c, err := l.stoppedChild(name)
		if err != nil {
			return err
		}
		l.remove(c)
		return nil
	})
}

// stoppedChild returns the child named name when it is stopped.
func (l *loop) stoppedChild(name string) (*child, error) {
	c := l.find(name)
	switch {
	case c == nil:
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	case c.state == ChildRestarting:
		return nil, fmt.Errorf("%w: %q", ErrRestarting, name)
	case c.state != ChildStopped:
		return nil, fmt.Errorf("%w: %q", ErrRunning, name)
	}
	return c, nil
}
