package core

import (
	"testing"
	"time"
)

// A subscription FromLabels connects only to the publishers it selects
// and takes no message from others, even when another subscription of
// the same peer to the same topic connected to them.
func TestSubscribeFromLabels(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		pubA := e.peer("pub-a", WithLabels(map[string]string{"zone": "a", "role": "sensor"}))
		pubB := e.peer("pub-b", WithLabels(map[string]string{"zone": "b", "role": "sensor"}))
		mustAdvertise(t, pubA, "lab.t")
		mustAdvertise(t, pubB, "lab.t")

		only := e.peer("only-a")
		selA := e.subscribe(only, "lab.t", FromLabels(map[string]string{"zone": "a"}))
		waitConnected(t, e.ctx(10*time.Second), selA, 1)
		// Given time to connect to pub-b too, it does not.
		time.Sleep(300 * time.Millisecond)
		if n := pubB.Stats().Server.Subscribers; n != 0 {
			t.Fatalf("pub-b has %d subscribers; the selector excludes it", n)
		}
		if n := selA.Stats().Publishers; n != 1 {
			t.Fatalf("selecting subscription counts %d publishers, want 1", n)
		}

		mixed := e.peer("mixed")
		all := e.subscribe(mixed, "lab.t")
		sel := e.subscribe(mixed, "lab.t", FromLabels(map[string]string{"zone": "a", "role": "sensor"}))
		none := e.subscribe(mixed, "lab.t", FromLabels(map[string]string{"zone": "c"}))
		waitConnected(t, e.ctx(10*time.Second), all, 2)
		waitConnected(t, e.ctx(10*time.Second), sel, 1)
		if n := none.Stats().Publishers; n != 0 {
			t.Fatalf("subscription selecting zone c counts %d publishers", n)
		}

		mustPublish(t, pubB, "lab.t", []byte("from b"))
		mustPublish(t, pubA, "lab.t", []byte("from a"))
		got := map[string]bool{}
		for range 2 {
			got[nextMsg(t, all).Publisher] = true
		}
		if !got["pub-a"] || !got["pub-b"] {
			t.Fatalf("unselective subscription got from %v, want both", got)
		}
		if m := nextMsg(t, sel); m.Publisher != "pub-a" || string(m.Data) != "from a" {
			t.Fatalf("selecting subscription got %q from %s", m.Data, m.Publisher)
		}
		if m := nextMsg(t, selA); m.Publisher != "pub-a" {
			t.Fatalf("only-a got a message from %s", m.Publisher)
		}
		// pub-b's message reached the peer (all got it); its delivery
		// to the peer's other subscriptions runs in the same loop, so a
		// moment later sel and none would hold it had they taken it.
		time.Sleep(100 * time.Millisecond)
		if st := sel.Stats(); st.Queued != 0 || st.Received != 1 {
			t.Fatalf("selecting subscription: %+v, want exactly pub-a's message", st)
		}
		if st := none.Stats(); st.Received != 0 {
			t.Fatalf("subscription selecting zone c received %d messages", st.Received)
		}
	})
}
