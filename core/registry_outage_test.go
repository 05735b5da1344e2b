package core

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// The registry node is not on the call path: calls go on, nodes start
// and topics are published while it is down. And its entries belong to
// whoever registered them.

// Bounds of TestRegistryOutageCallsContinue.
const (
	outageCallEvery    = 10 * time.Millisecond
	outageCallDeadline = time.Second
	// outageQuick bounds Publish on a new topic and Handle of a new
	// service while the registry is down: neither may wait for it.
	outageQuick = 100 * time.Millisecond
	// outageNewPeer bounds NewPeer while the registry is down.
	outageNewPeer = 2 * time.Second
	// outageRejoin bounds how long after the registry node is back a
	// node started during the outage is callable by name: its registry
	// client redials within the 2 s maximum reconnect backoff, then
	// registers; the caller reads the registry again.
	outageRejoin = 3 * time.Second
)

// outagePeer makes a peer with its own client of the registry node at
// endpoint, closed when the test ends.
func outagePeer(t *testing.T, name, endpoint string) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := NewPeer(ctx, name, WithRegistryAddress(endpoint))
	if err != nil {
		t.Fatalf("NewPeer(%q): %v", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// callOnce makes one call with deadline d.
func callOnce(p *Peer, d time.Duration, service string, opts ...CallOption) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := p.Call(ctx, service, []byte("x"), opts...)
	return err
}

// timedCall is one call of a steady caller.
type timedCall struct {
	at   time.Time
	took time.Duration
	err  error
}

// steadyCaller starts a call of service every interval, each on its
// own goroutine with deadline d, until the returned stop is called;
// stop waits for the calls and returns them.
func steadyCaller(p *Peer, service string, interval, d time.Duration) (stop func() []timedCall) {
	var mu sync.Mutex
	var calls []timedCall
	done := make(chan struct{})
	var pacer, inFlight sync.WaitGroup
	pacer.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			inFlight.Go(func() {
				t0 := time.Now()
				err := callOnce(p, d, service)
				c := timedCall{at: t0, took: time.Since(t0), err: err}
				mu.Lock()
				calls = append(calls, c)
				mu.Unlock()
			})
		}
	})
	return sync.OnceValue(func() []timedCall {
		close(done)
		pacer.Wait()
		inFlight.Wait()
		return calls
	})
}

// outageTally counts the calls of one phase.
type outageTally struct {
	calls, failed int
	slowest       time.Duration // of the failed calls
	first         error
}

func (o *outageTally) add(c timedCall) {
	o.calls++
	if c.err != nil {
		o.failed++
		o.slowest = max(o.slowest, c.took)
		if o.first == nil {
			o.first = c.err
		}
	}
}

// TestRegistryOutageCallsContinue: with the registry node SIGKILLed
// (10 s in the report, 3 s here, 10 s with $ZMP_SOAK_SECONDS), a caller
// that has read the registry keeps calling its provider without a
// single failure; a node started during the outage starts, serves, and
// is callable by name soon after the registry returns; Publish on a new
// topic does not wait for the registry.
//
// Assumed of the fix: NewPeer succeeds without a reachable registry
// node (the registration happens when it is back), as does Handle of a
// new service and Publish on a new topic, all returning nil.
func TestRegistryOutageCallsContinue(t *testing.T) {
	outage := registryOutage(t)
	e := newNodeEnv(t)
	reg := startRegistryChild(e, "outage-reg")
	prov := outagePeer(t, "outage-prov", reg.endpoint)
	provideEcho(t, prov, "echo")
	cli := outagePeer(t, "outage-caller", reg.endpoint)
	waitCond(t, 10*time.Second, "the caller reaching the provider", func() bool {
		return callOnce(cli, time.Second, "echo") == nil
	})

	stopCalls := steadyCaller(cli, "echo", outageCallEvery, outageCallDeadline)
	t.Cleanup(func() { stopCalls() })
	time.Sleep(300 * time.Millisecond) // pacing: calls before the outage
	if err := killNode(reg.n); err != nil {
		t.Fatal(err)
	}
	down := time.Now()

	type lateStart struct {
		p                *Peer
		err, handleErr   error
		took, handleTook time.Duration
	}
	lateCh := make(chan lateStart, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t0 := time.Now()
		p, err := NewPeer(ctx, "outage-late", WithRegistryAddress(reg.endpoint))
		r := lateStart{p: p, err: err, took: time.Since(t0)}
		if err == nil {
			t1 := time.Now()
			r.handleErr = p.HandleFunc("late", func(_ context.Context, r *Request) ([]byte, error) { return r.Body, nil })
			r.handleTook = time.Since(t1)
		}
		lateCh <- r
	}()
	t0 := time.Now()
	pubErr := prov.Publish("outage-topic", []byte("news"))
	pubTook := time.Since(t0)

	time.Sleep(time.Until(down.Add(outage))) // pacing: the outage
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := reg.n.Start(ctx); err != nil {
		t.Fatalf("restarting the registry node: %v", err)
	}
	up := time.Now()
	late := <-lateCh
	if late.p != nil {
		t.Cleanup(func() { late.p.Close() })
	}
	rejoin := time.Duration(-1)
	if late.err == nil && pollFor(outageRejoin+5*time.Second, func() bool {
		return callOnce(cli, 300*time.Millisecond, "late", OnNode("outage-late")) == nil
	}) {
		rejoin = time.Since(up)
	}
	advertised := pollFor(outageRejoin+5*time.Second, func() bool {
		n, err := Lookup(ctx, cli.Registry(), "outage-prov")
		return err == nil && n.Publishes("outage-topic")
	})
	time.Sleep(300 * time.Millisecond) // pacing: calls after the outage
	calls := stopCalls()

	var before, during, after outageTally
	for _, c := range calls {
		switch {
		case c.at.Before(down):
			before.add(c)
		case c.at.Before(up):
			during.add(c)
		default:
			after.add(c)
		}
	}
	t.Logf("registry node down %v; calls every %v with a %v deadline: before %d (%d failed), during %d (%d failed, slowest failure %v), after %d (%d failed); first failure during: %v",
		up.Sub(down).Round(time.Millisecond), outageCallEvery, outageCallDeadline, before.calls, before.failed,
		during.calls, during.failed, during.slowest.Round(time.Millisecond), after.calls, after.failed, during.first)
	rejoined := "never"
	switch {
	case late.err != nil:
		rejoined = "not tried"
	case rejoin >= 0:
		rejoined = rejoin.Round(time.Millisecond).String()
	}
	t.Logf("during the outage: Publish on a new topic %v (%v); NewPeer %v (%v); HandleFunc %v (%v); node started in the outage callable by name after the registry returned: %s; topic advertised afterwards: %v",
		pubTook.Round(time.Microsecond), pubErr, late.took.Round(time.Millisecond), late.err,
		late.handleTook.Round(time.Microsecond), late.handleErr, rejoined, advertised)

	if n := before.failed + during.failed + after.failed; n > 0 {
		t.Errorf("%d of %d calls failed (%d during the outage), want none; first failure during the outage: %v",
			n, len(calls), during.failed, cmpOrErr(during.first, cmpOrErr(before.first, after.first)))
	}
	if pubErr != nil || pubTook > outageQuick {
		t.Errorf("Publish on a new topic with the registry down: %v after %v, want nil within %v", pubErr, pubTook, outageQuick)
	}
	if late.err != nil || late.took > outageNewPeer {
		t.Errorf("NewPeer with the registry down: %v after %v, want success within %v", late.err, late.took, outageNewPeer)
	}
	if late.err == nil && (late.handleErr != nil || late.handleTook > outageQuick) {
		t.Errorf("HandleFunc of a new service with the registry down: %v after %v, want nil within %v", late.handleErr, late.handleTook, outageQuick)
	}
	if late.err == nil && (rejoin < 0 || rejoin > outageRejoin) {
		t.Errorf("node started during the outage callable by name after the registry returned: %s, want within %v", rejoined, outageRejoin)
	}
	if !advertised {
		t.Errorf("topic published during the outage not in the registry %v after it returned", outageRejoin+5*time.Second)
	}
}

func cmpOrErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// cutDialer dials plain connections and can close them all at once:
// the client's side of a broken link.
type cutDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *cutDialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := new(net.Dialer).DialContext(ctx, network, address)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

// cut closes every connection dialled so far and returns how many.
func (d *cutDialer) cut() int {
	d.mu.Lock()
	conns := d.conns
	d.conns = nil
	d.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

// TestRegistryEntriesBelongToRegisterer: another client of a registry
// node can neither overwrite nor remove a node's entry by giving its
// name and ID; the node itself still registers, renews and removes it
// after its link to the registry was cut and after the registry node
// restarted. (This code answers both theft attempts with nil; the fix
// is expected to add a typed error, checked here only as non-nil.)
func TestRegistryEntriesBelongToRegisterer(t *testing.T) {
	const ttl = 1500 * time.Millisecond // renewed every 500 ms
	srv := newRegistryServer(t, "tcp://127.0.0.1:0")
	ep := srv.Endpoint()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	link := &cutDialer{}
	victimReg, err := NewRemoteRegistry(ep, WithDialer(link.dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victimReg.Close() })
	victim, err := NewPeer(ctx, "victim", WithRegistry(victimReg), WithLeaseTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	victimClosed := false
	t.Cleanup(func() {
		if !victimClosed {
			victim.Close()
		}
	})
	provideEcho(t, victim, "echo")
	thief := newRemoteRegistry(t, ep)
	bystander, err := NewPeer(ctx, "bystander", WithRegistry(newRemoteRegistry(t, ep)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bystander.Close() })

	want := victim.Info()
	entry := func() (NodeInfo, error) {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return Lookup(lctx, thief, "victim")
	}
	intact := func(n NodeInfo) bool {
		return n.ID == want.ID && n.RPC == want.RPC && slices.Equal(n.Services, want.Services)
	}
	checkIntact := func(stage string) {
		t.Helper()
		if n, err := entry(); err != nil || !intact(n) {
			t.Errorf("%s: victim's entry is %+v (%v), want RPC %s, ID %s", stage, n, err, want.RPC, want.ID)
		}
	}
	// renewed waits until the victim has registered again over its new
	// link and renewed its lease there at least once since.
	renewed := func(stage string) {
		t.Helper()
		since := time.Now()
		ok := pollFor(10*time.Second, func() bool {
			n, err := entry()
			return err == nil && intact(n) && n.Expires.After(since.Add(ttl+ttl/3))
		})
		if !ok {
			n, err := entry()
			t.Errorf("%s: the victim did not register and renew its entry within 10 s: %+v (%v)", stage, n, err)
		}
	}
	theft := func(stage string) {
		t.Helper()
		stolen := want
		stolen.RPC = "tcp://127.0.0.1:1"
		err := thief.Register(ctx, stolen, time.Minute)
		t.Logf("%s: another client's Register with the victim's name and ID: %v", stage, err)
		if !errors.Is(err, ErrNotOwner) {
			t.Errorf("%s: another client's Register over the victim's entry: %v, want ErrNotOwner", stage, err)
		}
		checkIntact(stage + ", after the foreign Register")
		err = thief.Deregister(ctx, want.Name, want.ID)
		t.Logf("%s: another client's Deregister of the victim: %v", stage, err)
		if !errors.Is(err, ErrNotOwner) {
			t.Errorf("%s: another client's Deregister of the victim: %v, want ErrNotOwner", stage, err)
		}
		checkIntact(stage + ", after the foreign Deregister")
		if err := callOnce(bystander, 5*time.Second, "echo", OnNode("victim")); err != nil {
			t.Errorf("%s: calling the victim: %v", stage, err)
		}
	}

	theft("at first")
	own := NodeInfo{Name: "thief-own", ID: "thief-1", PID: 1, Host: "elsewhere"}
	if err := thief.Register(ctx, own, time.Minute); err != nil {
		t.Errorf("a client registering its own entry: %v", err)
	}
	if err := thief.Deregister(ctx, own.Name, own.ID); err != nil {
		t.Errorf("a client deregistering its own entry: %v", err)
	}

	if n := link.cut(); n == 0 {
		t.Fatal("the victim's registry client dialled no connection")
	}
	renewed("after the victim's registry link was cut")
	theft("after the victim reconnected")

	srv.Close()
	newRegistryServer(t, ep)
	renewed("after the registry node restarted")
	theft("after the registry node restarted")

	victimClosed = true
	if err := victim.Close(); err != nil {
		t.Errorf("the victim removing its own entry on Close: %v", err)
	}
	if _, err := entry(); !errors.Is(err, ErrNotFound) {
		t.Errorf("after the victim closed: lookup %v, want ErrNotFound", err)
	}
}
