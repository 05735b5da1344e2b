package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// Garbage on every service is refused, never a crash, and the agent
// goes on serving.
func TestHostileGarbage(t *testing.T) {
	h := newHarness(t)
	h.start(Spec{Name: "c1", Kind: "calc"})
	rng := rand.New(rand.NewPCG(1, 2))
	services := []string{ServiceStart, ServiceStop, ServiceRestart, ServicePS, ServiceStatus}
	for i := range 300 {
		body := make([]byte, rng.IntN(300))
		for j := range body {
			body[j] = byte(rng.IntN(256))
		}
		if i%3 == 0 { // JSON-looking garbage
			body = fmt.Appendf(nil, `{"name":%q,"kind":%q,"args":[%q],"tail":%d}`, body[:len(body)/3], body[len(body)/3:len(body)/2], body[len(body)/2:], rng.Int())
		}
		svc := services[i%len(services)]
		_, err := h.peer.Call(h.ctx, svc, body, core.OnNode("a1"))
		var re *core.RemoteError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("%s with garbage: %v", svc, err)
		}
		if i%10 == 0 {
			rc, err := h.peer.Download(h.ctx, ServiceLogs, body, core.OnNode("a1"))
			if err == nil {
				io.Copy(io.Discard, rc)
				rc.Close()
			}
		}
	}
	if st := h.ps("c1"); st.State != StateRunning || len(h.agent.Nodes()) != 1 {
		t.Fatalf("after the garbage: %+v", h.agent.Nodes())
	}
	if pid, err := h.pid("c1"); err != nil || pid != h.ps("c1").PID {
		t.Fatalf("c1 after the garbage: %d, %v", pid, err)
	}
}

// A flood of starts, adoptions, conflicts and stops from many callers
// at once: every call is answered (placed, adopted, refused or told the
// agent is overloaded), the agent never holds more than its bound, and
// it serves ps throughout.
func TestHostileFlood(t *testing.T) {
	h := newHarness(t, WithMaxNodes(6))
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				name := fmt.Sprintf("n%d", (w*15+i)%9)
				kind := "calc"
				if i%4 == 3 {
					kind = "greeter" // a conflict with an earlier calc of that name
				}
				var err error
				if i%5 == 4 {
					_, err = h.client.Stop(h.ctx, "a1", name)
				} else {
					_, err = h.client.Start(h.ctx, "a1", Spec{Name: name, Kind: kind})
				}
				switch {
				case err == nil, errors.Is(err, ErrConflict), errors.Is(err, ErrTooManyNodes), errors.Is(err, ErrNotFound),
					errors.Is(err, core.ErrOverloaded), errors.Is(err, ErrNameTaken):
				default:
					errs <- fmt.Errorf("%s %s: %w", kind, name, err)
				}
				if n := len(h.agent.Nodes()); n > 6 {
					errs <- fmt.Errorf("%d nodes, more than the bound", n)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	nodes, err := h.client.PS(h.ctx, "a1")
	if err != nil || len(nodes) > 6 {
		t.Fatalf("ps after the flood: %d nodes, %v", len(nodes), err)
	}
	for _, n := range nodes { // greeters have no pid service
		if n.State == StateRunning && n.Kind == "calc" {
			if _, err := h.pid(n.Name); err != nil {
				t.Errorf("%s runs but does not answer: %v", n.Name, err)
			}
		}
	}
}

// A caller that opens logs streams and never reads holds a bounded
// buffer and a bounded number of streams; the agent serves everyone
// else meanwhile and reaps the streams after the idle timeout.
func TestHostileLogsNeverRead(t *testing.T) {
	h := newHarness(t, WithLogStreams(4, 2, time.Second))
	h.start(Spec{Name: "tk", Kind: "chatty", Args: []string{"--lines", "2000", "--every", "1ms"}})
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	var held []io.ReadCloser
	for range 2 {
		rc, err := h.client.Logs(ctx, "a1", LogsRequest{Name: "tk", Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := rc.Read(b); err != nil { // opened: the stream exists at the agent
			t.Fatal(err)
		}
		held = append(held, rc) // never read again
	}
	third, err := h.client.Logs(ctx, "a1", LogsRequest{Name: "tk", Follow: true})
	if err == nil {
		_, err = third.Read(make([]byte, 1))
		third.Close()
	}
	if !errors.Is(err, core.ErrOverloaded) {
		t.Errorf("a third stream on one connection: %v, want it refused", err)
	}
	start := time.Now()
	for range 20 {
		if _, err := h.client.PS(h.ctx, "a1"); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("20 ps calls took %v next to unread streams", d)
	}
	time.Sleep(2500 * time.Millisecond) // past the idle timeout
	other := h.peer
	rc, err := NewClient(other).Logs(h.ctx, "a1", LogsRequest{Name: "tk", Tail: 5})
	if err != nil {
		t.Fatal(err)
	}
	if logs := readAll(t, rc); logs == "" {
		t.Error("no logs after the unread streams were reaped")
	}
	for _, rc := range held {
		rc.Close()
	}
}

// A controller that goes away in the middle of a start does not stop
// it: the node starts, and placing it again adopts it.
func TestHostileDisconnectMidStart(t *testing.T) {
	h := newHarness(t)
	p, err := core.NewPeer(h.ctx, "impatient", core.WithRegistry(h.reg))
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "slow", Kind: "greeter", Args: []string{"--delay", "700ms"}}
	ctx, cancel := context.WithTimeout(h.ctx, 200*time.Millisecond)
	go func() {
		<-ctx.Done()
		p.Close() // and its connection with it
	}()
	_, err = NewClient(p).Start(ctx, "a1", spec)
	cancel()
	if err == nil {
		t.Fatal("the start did not outlast the caller")
	}
	h.waitFor(20*time.Second, "slow to run", func() bool { return h.ps("slow").State == StateRunning })
	first := h.ps("slow")
	st := h.start(spec)
	if !st.Adopted || st.PID != first.PID {
		t.Errorf("placing it again: %+v (first %+v)", st, first)
	}
	if c := h.agent.Status().Counts; c.Started != 1 || c.Adopted != 1 {
		t.Errorf("counts: %+v", c)
	}
}
