package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCallCtxDeadlineWithoutDone(t *testing.T) {
	c := newCallCtx(newScope(context.Background()), 20)
	if d, ok := c.Deadline(); !ok || time.Until(d) > 20*time.Millisecond {
		t.Fatalf("deadline %v %v", d, ok)
	}
	if c.Err() != nil {
		t.Fatal("ended early")
	}
	waitCond(t, 2*time.Second, "deadline seen by Err", func() bool { return errors.Is(c.Err(), context.DeadlineExceeded) })
	select {
	case <-c.Done(): // made after the deadline: already closed
	default:
		t.Fatal("Done not closed after the deadline")
	}
}

func TestCallCtxDeadlineClosesDone(t *testing.T) {
	c := newCallCtx(newScope(context.Background()), 30)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v", c.Err())
	}
}

func TestCallCtxParentCancel(t *testing.T) {
	for _, armed := range []bool{false, true} {
		parent := newScope(context.Background())
		cancel := parent.end
		c := newCallCtx(parent, 0)
		if armed {
			c.Done()
		}
		cancel()
		if armed {
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("parent cancel did not close Done")
			}
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("armed=%v: Err = %v after parent cancel", armed, c.Err())
		}
	}
}

func TestCallCtxCancelAndDerived(t *testing.T) {
	c := newCallCtx(newScope(context.Background()), 0)
	derived, stop := context.WithTimeout(c, time.Hour)
	defer stop()
	called := make(chan struct{})
	context.AfterFunc(c, func() { close(called) })
	c.cancel(context.Canceled)
	for _, ch := range []<-chan struct{}{derived.Done(), called} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("cancel did not reach a derived context or AfterFunc")
		}
	}
	c.cancel(context.DeadlineExceeded) // a second cancel changes nothing
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err = %v", c.Err())
	}
}

func TestCallCtxNoDeadline(t *testing.T) {
	c := newCallCtx(newScope(context.Background()), 0)
	if _, ok := c.Deadline(); ok {
		t.Fatal("deadline without a timeout")
	}
	if c.Value("k") != nil || c.Err() != nil {
		t.Fatal("unexpected value or error")
	}
	c.cancel(context.Canceled)
}
