package systems

import (
	"context"
	"testing"
	"time"

	"github.com/gozmp/zmp/bench/spec"
)

// TestZmpScaleClients runs the scale cases' client sides against zmp's
// servers in this process, over tcp and ipc: several callers complete
// calls, several subscribers receive, and everything closes cleanly
// (goleak in TestMain).
func TestZmpScaleClients(t *testing.T) {
	for _, tr := range []string{spec.TCP, spec.IPC} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ep := Endpoint{Transport: tr, Dir: t.TempDir()}
			srv, err := newZmpEcho(ctx, ep)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			cs, err := DialZmpCallers(ctx, ep, 5)
			if err != nil {
				t.Fatal(err)
			}
			rec := NewRecorder(false)
			rec.SetOn(true)
			runCtx, stop := context.WithTimeout(ctx, 100*time.Millisecond)
			cs.Run(runCtx, make([]byte, spec.Small), rec)
			stop()
			if rec.Calls() < 5 {
				t.Errorf("%d calls by 5 callers", rec.Calls())
			}
			if err := cs.Close(); err != nil {
				t.Error(err)
			}
			if got := srv.Stats()["served"]; got < 5 {
				t.Errorf("the provider served %v calls", got)
			}

			ep.Dir = t.TempDir() // the publisher is a "bench-server" too
			pub, err := newZmpPub(ctx, ep, PubOptions{Size: spec.Small, Subs: 3, Pace: true})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			subs, err := DialZmpScaleSubs(ctx, ep, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := subs.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			pubCtx, stopPub := context.WithCancel(ctx)
			errc := make(chan error, 1)
			go func() { errc <- pub.Run(pubCtx, make([]byte, spec.Small)) }()
			for subs.Counts().Min() == 0 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			stopPub()
			if err := <-errc; err != nil {
				t.Error(err)
			}
			if subs.Counts().Min() == 0 {
				t.Error("a subscriber received nothing")
			}
			if err := subs.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestZmpScaleRegistries fills both kinds of registry and has fresh
// callers find the provider among the fillers.
func TestZmpScaleRegistries(t *testing.T) {
	for _, node := range []bool{false, true} {
		t.Run(map[bool]string{false: "dir", true: "node"}[node], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ep := Endpoint{Transport: spec.TCP, Dir: t.TempDir()}
			reg, err := NewZmpRegistry(ctx, ep, node, 30)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			for i := range 2 {
				d, err := ZmpFirstCall(ctx, reg.Addr(), "bench-caller-test")
				if err != nil || d <= 0 {
					t.Fatalf("first call %d: %v, %v", i, d, err)
				}
			}
		})
	}
}

// TestZmpScaleTopics advertises topics both ways and has a fresh
// subscriber receive on the last one.
func TestZmpScaleTopics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ep := Endpoint{Transport: spec.TCP, Dir: t.TempDir()}
	node, err := NewZmpTopicNode(ctx, ep, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	d, topic, err := node.PublishAll(ctx, 50)
	if err != nil || d <= 0 || topic != zmpTopicName(49) {
		t.Fatalf("PublishAll: %v, %q, %v", d, topic, err)
	}
	if d, err := ZmpAdvertiseEach(ctx, ep, 20); err != nil || d <= 0 {
		t.Fatalf("ZmpAdvertiseEach: %v, %v", d, err)
	}
	if d, err := ZmpAdvertiseAll(ctx, ep, 200); err != nil || d <= 0 {
		t.Fatalf("ZmpAdvertiseAll: %v, %v", d, err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- node.Run(runCtx) }()
	d, err = ZmpFirstMessage(ctx, ep, topic, "bench-subscriber-test")
	stop()
	if err != nil || d <= 0 {
		t.Errorf("first message: %v, %v", d, err)
	}
	if err := <-errc; err != nil {
		t.Error(err)
	}
}
