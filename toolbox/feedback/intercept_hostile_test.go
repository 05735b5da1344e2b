package feedback

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// Callers that give up do not leak slots: calls whose deadline passes
// while their handler runs, and calls whose caller's peer closes mid-
// call, each free their slot once the handler sees its context end;
// in flight returns to 0 and the full limit serves again.
func TestInterceptServerNoLeakOnDeadlineAndDisconnect(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	hang := newGate() // never released: handlers end with their call
	e.serve(srv, "hang", hang.serve)
	e.serve(srv, "quick", sleepHandler(time.Millisecond))

	cli := e.peer("cli")
	errs := make(chan error, 4)
	for range 4 { // deadlines that pass while the handler runs
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			errs <- call(ctx, cli, "hang", "")
		}()
	}
	for range 4 {
		if err := <-errs; !errors.Is(err, core.ErrTimeout) {
			t.Fatalf("call past its deadline: %v, want ErrTimeout", err)
		}
	}
	coretest.WaitFor(t, 10*time.Second, "slots freed after deadlines", func() bool { return sl.Stats().InFlight == 0 })

	ctx := timeout(t, 30*time.Second)
	leaver, err := core.NewPeer(ctx, "leaver", core.WithRegistry(e.reg))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 { // callers whose peer goes away mid-call
		go func() { errs <- call(ctx, leaver, "hang", "") }()
	}
	coretest.WaitFor(t, 10*time.Second, "4 calls held", func() bool { return sl.Stats().InFlight == 4 })
	if err := call(ctx, cli, "quick", ""); !errors.Is(err, core.ErrOverloaded) {
		t.Fatalf("call while 4 are held: %v, want ErrOverloaded", err)
	}
	leaver.Close()
	for range 4 {
		if err := <-errs; err == nil {
			t.Fatal("a call of a closed peer succeeded")
		}
	}
	coretest.WaitFor(t, 10*time.Second, "slots freed after disconnect", func() bool { return sl.Stats().InFlight == 0 })
	for range 8 {
		if err := call(ctx, cli, "quick", ""); err != nil {
			t.Fatalf("call after the leavers: %v", err)
		}
	}
	if st := sl.Stats(); st.Dropped != 4 {
		t.Fatalf("stats %+v: want the 4 timed-out calls as drops, the cancelled ones as no samples", st)
	}
}

// A handler that panics frees its slot; the node answers the panic with
// CodePanic and keeps serving, and the limit is whole again.
func TestInterceptServerPanicFreesSlot(t *testing.T) {
	e := newIenv(t)
	sl, err := NewServerLimiter(fixedLimit(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	srv := e.peer("srv", core.WithServerInterceptors(sl.Interceptor()))
	e.serve(srv, "boom", func(ctx context.Context, r *core.Request) ([]byte, error) { panic("boom") })
	e.serve(srv, "quick", sleepHandler(time.Millisecond))
	cli := e.peer("cli")
	ctx := timeout(t, 30*time.Second)
	for range 10 { // five times the limit: each would leak a slot
		var re *core.RemoteError
		if err := call(ctx, cli, "boom", ""); !errors.As(err, &re) || re.Code != core.CodePanic {
			t.Fatalf("panicking handler: %v, want CodePanic", err)
		}
	}
	coretest.WaitFor(t, 10*time.Second, "slots freed after panics", func() bool { return sl.Stats().InFlight == 0 })
	if err := call(ctx, cli, "quick", ""); err != nil {
		t.Fatalf("call after the panics: %v", err)
	}
	if st := sl.Stats(); st.Panics != 10 || st.Admitted != 11 {
		t.Fatalf("stats %+v: want 10 panics of 11 admitted", st)
	}
}
