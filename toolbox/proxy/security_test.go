package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Every proxy under CURVE and PLAIN with pyzmq peers on both sides.

// pyHeartbeat gives python workers (which heartbeat every 50 ms) 5 s
// of silence before the proxy drops them: a python process starved by
// a loaded machine must not lose its registration mid-test.
var pyHeartbeat = WithHeartbeat(200*time.Millisecond, 25)

func TestSecurityInteropForwarder(t *testing.T) {
	requirePyzmq(t)
	forEachSecMode(t, func(t *testing.T, m secMode, tr transport) {
		f := newForwarder(t, tr, WithSecurity(m.server))
		lines := runPySec(t, map[string]string{"": m.py}, "pub_sub_forwarder.py", f.FrontendEndpoint(), f.BackendEndpoint(), "50")
		var keep, drop uint64
		if _, err := fmt.Sscanf(lines[len(lines)-2], "published %d %d", &keep, &drop); err != nil {
			t.Fatalf("output %q: %v", lines, err)
		}
		st := f.Stats()
		if st.Frontend.MsgsIn < 50 || st.Frontend.MsgsIn > keep {
			t.Fatalf("forwarder received %d publications; python published %d wanted", st.Frontend.MsgsIn, keep)
		}
		want := strings.ToUpper(m.name)
		if st.Frontend.Mechanism != want || st.Backend.Mechanism != want {
			t.Fatalf("mechanisms %q/%q, want %s", st.Frontend.Mechanism, st.Backend.Mechanism, want)
		}
		if k := st.Frontend.Key; (m.name == "curve") != (k != "") || (k != "" && k != m.key.String()) {
			t.Fatalf("frontend key %q, proxy key %v", k, m.key)
		}
	})
}

func TestSecurityInteropQueue(t *testing.T) {
	requirePyzmq(t)
	forEachSecMode(t, func(t *testing.T, m secMode, tr transport) {
		q := newQueue(t, tr, WithSecurity(m.server), pyHeartbeat)
		const pyRequests, goRequests = 20, 5
		worker := startPySec(t, map[string]string{"": m.py}, "pp_worker.py", q.BackendEndpoint(), fmt.Sprint(pyRequests+goRequests))
		waitUntil(t, wait, "python worker ready", func() bool { return q.Stats().Idle == 1 })
		lines := runPySec(t, map[string]string{"": m.py}, "req_client.py", q.FrontendEndpoint(), fmt.Sprint(pyRequests))
		if got := lines[len(lines)-2]; got != "workers py" {
			t.Fatalf("python client saw %q", got)
		}
		c := newSecureQueueClient(t, m.endpoint(q.FrontendEndpoint()), m.peer)
		for i := range goRequests {
			if got := doRequest(t, c, fmt.Sprint(i)); got != fmt.Sprint("py:", i) {
				t.Fatalf("Go client got %q", got)
			}
		}
		worker()
	})
}

func TestSecurityInteropBroker(t *testing.T) {
	requirePyzmq(t)
	forEachSecMode(t, func(t *testing.T, m secMode, tr transport) {
		b := newBroker(t, tr, WithSecurity(m.server), pyHeartbeat)
		const pyRequests, goRequests = 10, 5 // mdp_client.py calls echo 10 times
		worker := startPySec(t, map[string]string{"": m.py}, "mdp_worker.py", b.BackendEndpoint(), "echo", fmt.Sprint(pyRequests+goRequests))
		waitUntil(t, wait, "python worker ready", func() bool { return b.Stats().Idle == 1 })
		runPySec(t, map[string]string{"": m.py}, "mdp_client.py", b.FrontendEndpoint())
		c := newSecureBrokerClient(t, m.endpoint(b.FrontendEndpoint()), m.peer)
		for i := range goRequests {
			got, err := c.Request(testContext(t, wait), "echo", []byte(fmt.Sprint(i)), []byte("two"))
			if err != nil || !eq(got, fmt.Sprint(i), "two") {
				t.Fatalf("Go client: %q, %v", strs(got), err)
			}
		}
		worker()
	})
}

// Go workers and clients of this package under each mechanism.
func TestSecurityGoPeers(t *testing.T) {
	forEachSecMode(t, func(t *testing.T, m secMode, tr transport) {
		q := newQueue(t, tr, WithSecurity(m.server))
		newWorker(t, m.endpoint(q.BackendEndpoint()), echo("w"), WithSecurity(m.peer))
		waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
		c := newSecureQueueClient(t, m.endpoint(q.FrontendEndpoint()), m.peer)
		if got := doRequest(t, c, "q"); got != "w:q" {
			t.Fatalf("queue reply %q", got)
		}

		b := newBroker(t, tr, WithSecurity(m.server))
		newServiceWorker(t, m.endpoint(b.BackendEndpoint()), "svc", echo("s"), WithSecurity(m.peer))
		bc := newSecureBrokerClient(t, m.endpoint(b.FrontendEndpoint()), m.peer)
		waitUntil(t, wait, "service up", func() bool { return b.Stats().Idle == 1 })
		got, err := bc.Request(testContext(t, wait), "svc", []byte("b"))
		if err != nil || !eq(got, "s:b") {
			t.Fatalf("broker reply %q, %v", strs(got), err)
		}
	})
}

// A refused peer never reaches the proxy, which keeps serving the
// others: an unknown CURVE key or a wrong PLAIN password, a CURVE
// client holding the wrong server key, and a NULL client.
func TestSecurityRefusedPeers(t *testing.T) {
	forEachSecMode(t, func(t *testing.T, m secMode, tr transport) {
		q := newQueue(t, tr, WithSecurity(m.server))
		newWorker(t, m.endpoint(q.BackendEndpoint()), echo("w"), WithSecurity(m.peer))
		waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
		good := newSecureQueueClient(t, m.endpoint(q.FrontendEndpoint()), m.peer)

		refused := map[string]func() (*zmtp.Conn, error){
			"stranger": func() (*zmtp.Conn, error) { return dialSecure(q.FrontendEndpoint(), zmtp.Dealer, m.stranger, m.key) },
			"null": func() (*zmtp.Conn, error) {
				return dialSecure(q.FrontendEndpoint(), zmtp.Dealer, core.Security{}, core.Key{})
			},
		}
		if m.name == "curve" {
			wrong := keyPair(t).Public
			trustsWrong := core.Curve(keyPair(t), quietAuth(t, core.AllowKeys(wrong)))
			refused["wrong server key"] = func() (*zmtp.Conn, error) {
				return dialSecure(q.FrontendEndpoint(), zmtp.Dealer, trustsWrong, wrong)
			}
		}
		for name, dial := range refused {
			before := q.Stats().Frontend.HandshakeFailed
			if c, err := dial(); err == nil {
				c.Close()
				t.Fatalf("%s: handshake succeeded", name)
			}
			waitUntil(t, wait, name+" counted", func() bool { return q.Stats().Frontend.HandshakeFailed > before })
			if got := doRequest(t, good, name); got != "w:"+name {
				t.Fatalf("after %s: reply %q", name, got)
			}
		}
		if st := q.Stats(); st.Frontend.MsgsIn != uint64(len(refused)) || st.Frontend.Peers != 1 {
			t.Fatalf("frontend saw %d messages from %d peers; only the admitted client's should count", st.Frontend.MsgsIn, st.Frontend.Peers)
		}
	})
}

// A refused Go client says why when its request times out.
func TestSecurityRefusedClientSaysWhy(t *testing.T) {
	m := curveMode(t)
	q := newQueue(t, transports[0], WithSecurity(m.server))
	c := newSecureQueueClient(t, m.endpoint(q.FrontendEndpoint()), m.stranger)
	_, err := c.Request(testContext(t, 3*time.Second), []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("err = %v, want the deadline and why it never connected", err)
	}
}

// Refused pyzmq peers: an unknown key (or wrong password) and a NULL
// socket get nothing through any proxy, which serves the others.
func TestSecurityInteropRefused(t *testing.T) {
	requirePyzmq(t)
	forEachSecMode(t, func(t *testing.T, m secMode, tr transport) {
		q := newQueue(t, tr, WithSecurity(m.server))
		newWorker(t, m.endpoint(q.BackendEndpoint()), echo("w"), WithSecurity(m.peer))
		waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
		specs := map[string]string{"stranger": m.pyStranger, "null": ""}
		if m.name == "curve" {
			f := strings.Fields(m.py) // curve SERVERKEY PUBLIC SECRET
			f[1] = keyPair(t).Public.String()
			specs["wrong server key"] = strings.Join(f, " ")
		}
		for name, spec := range specs {
			before := q.Stats().Frontend.HandshakeFailed
			runPySec(t, map[string]string{"client": spec}, "refused_client.py", q.FrontendEndpoint())
			waitUntil(t, wait, name+": failed handshake counted", func() bool { return q.Stats().Frontend.HandshakeFailed > before })
		}
		if st := q.Stats(); st.Frontend.MsgsIn != 0 {
			t.Fatalf("refused clients delivered %d messages", st.Frontend.MsgsIn)
		}
		lines := runPySec(t, map[string]string{"": m.py}, "req_client.py", q.FrontendEndpoint(), "3")
		if got := lines[len(lines)-2]; got != "workers w" {
			t.Fatalf("admitted python client saw %q", got)
		}
	})
}

// Each side has its own Security: a CURVE frontend and a NULL backend.
func TestSecurityPerSide(t *testing.T) {
	m := curveMode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		q := newQueue(t, tr, WithFrontendSecurity(m.server))
		newWorker(t, q.BackendEndpoint(), echo("w")) // NULL
		waitUntil(t, wait, "worker ready", func() bool { return q.Stats().Idle == 1 })
		c := newSecureQueueClient(t, m.endpoint(q.FrontendEndpoint()), m.peer)
		if got := doRequest(t, c, "x"); got != "w:x" {
			t.Fatalf("reply %q", got)
		}
		if _, err := dialSecure(q.FrontendEndpoint(), zmtp.Dealer, core.Security{}, core.Key{}); err == nil {
			t.Fatal("a NULL client got through the CURVE frontend")
		}
		if _, err := dialSecure(q.BackendEndpoint(), zmtp.Dealer, m.peer, m.key); err == nil {
			t.Fatal("a CURVE worker got through the NULL backend")
		}
		st := q.Stats()
		if st.Frontend.Mechanism != "CURVE" || st.Backend.Mechanism != "NULL" || st.Backend.Key != "" {
			t.Fatalf("sides %+v / %+v", st.Frontend, st.Backend)
		}

		// A side's own Security wins over WithSecurity, given before or after.
		for _, opts := range [][]Option{
			{WithSecurity(m.server), WithBackendSecurity(core.Security{})},
			{WithBackendSecurity(core.Security{}), WithSecurity(m.server)},
		} {
			f := newForwarder(t, tr, opts...)
			if st := f.Stats(); st.Frontend.Mechanism != "CURVE" || st.Backend.Mechanism != "NULL" {
				t.Fatalf("forwarder sides %q / %q", st.Frontend.Mechanism, st.Backend.Mechanism)
			}
		}
	})
}

// A secured forwarder: a stranger subscriber gets nothing, the admitted
// one everything; the tap is secured like the frontend.
func TestSecurityForwarderSubscribersAndTap(t *testing.T) {
	m := curveMode(t)
	forEachTransport(t, func(t *testing.T, tr transport) {
		f := newForwarder(t, tr, WithSecurity(m.server), WithTap(tr.endpoint(t)))
		if _, err := dialSecure(f.BackendEndpoint(), zmtp.Sub, m.stranger, m.key); err == nil {
			t.Fatal("a stranger subscribed")
		}
		if _, err := dialSecure(f.TapEndpoint(), zmtp.Sub, core.Security{}, core.Key{}); err == nil {
			t.Fatal("a NULL subscriber reached the CURVE tap")
		}
		tap := securePeer(t, f.TapEndpoint(), zmtp.Sub, m.peer, m.key)
		tap.send(t, []byte("\x01"))
		sub := securePeer(t, f.BackendEndpoint(), zmtp.Sub, m.peer, m.key)
		sub.send(t, []byte("\x01t"))
		waitUntil(t, wait, "subscription", func() bool { return f.Stats().Subscriptions == 1 })
		pub := securePeer(t, f.FrontendEndpoint(), zmtp.Pub, m.peer, m.key)
		pub.send(t, []byte("t1"), []byte("body"))
		if got := sub.recv(t, wait); !eq(got, "t1", "body") {
			t.Fatalf("subscriber got %q", strs(got))
		}
		// The tap's subscription may arrive after t1: publish until one shows.
		waitUntil(t, wait, "publication on the tap", func() bool {
			pub.send(t, []byte("t2"), []byte("body"))
			for {
				select {
				case got := <-tap.in:
					if eq(got, "frontend", "t1", "body") || eq(got, "frontend", "t2", "body") {
						return true
					}
				case <-time.After(20 * time.Millisecond):
					return false
				}
			}
		})
	})
}

// WithConnect dials a CURVE publisher whose key its endpoint carries.
func TestSecurityForwarderConnect(t *testing.T) {
	fwdKP, pubKP, subKP := keyPair(t), keyPair(t), keyPair(t)
	z, err := core.Curve(pubKP, quietAuth(t, core.AllowKeys(fwdKP.Public))).ServerSocket()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sock.ListenPub("tcp://127.0.0.1:0", sock.PubConfig{Listen: sock.ListenConfig{ZMTP: zmtp.Config{Security: z}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	// The forwarder admits the subscriber's key and trusts the publisher's.
	fsec := core.Curve(fwdKP, quietAuth(t, core.AllowKeys(subKP.Public, pubKP.Public)))
	if _, err := NewForwarder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", WithSecurity(fsec), WithConnect(pub.Endpoint())); !errors.Is(err, core.ErrUntrusted) {
		t.Fatalf("a CURVE connect without the publisher's key: %v", err)
	}
	f := newForwarder(t, transports[0], WithSecurity(fsec), WithConnect(core.KeyedEndpoint(pub.Endpoint(), pubKP.Public)))
	sub := securePeer(t, f.BackendEndpoint(), zmtp.Sub, core.Curve(subKP, quietAuth(t, core.AllowKeys(fwdKP.Public))), fwdKP.Public)
	sub.send(t, []byte("\x01"))
	waitUntil(t, wait, "publisher connected", func() bool { return f.Stats().Frontend.Peers == 1 })
	waitUntil(t, wait, "publication through", func() bool {
		pub.Publish(frames("news", "x"))
		select {
		case got := <-sub.in:
			return eq(got, "news", "x")
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
}

func TestSecurityOptionErrors(t *testing.T) {
	m := curveMode(t)
	bad := core.Curve(core.KeyPair{Public: m.key}, quietAuth(t)) // no secret
	ep := "tcp://127.0.0.1:9"
	cases := map[string]func() error{
		"invalid security": func() error { _, err := NewQueue(ep, ep, WithSecurity(bad)); return err },
		"invalid side":     func() error { _, err := NewBroker(ep, "", WithFrontendSecurity(bad)); return err },
		"no backend":       func() error { _, err := NewBroker(ep, "", WithBackendSecurity(m.server)); return err },
		"side on a worker": func() error { _, err := NewWorker(ep, echo("w"), WithBackendSecurity(m.peer)); return err },
		"curve without key": func() error {
			_, err := NewQueueClient(ep, WithSecurity(m.peer))
			return err
		},
		"untrusted key": func() error {
			_, err := NewWorker(core.KeyedEndpoint(ep, keyPair(t).Public), echo("w"), WithSecurity(m.peer))
			return err
		},
		"malformed key": func() error { _, err := NewBrokerClient(ep+"?key=short", WithSecurity(m.peer)); return err },
	}
	for name, f := range cases {
		if err := f(); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: err = %v, want ErrBadOption", name, err)
		}
	}
	if _, err := NewQueueClient(ep, WithSecurity(m.peer)); err == nil || !strings.Contains(err.Error(), "?key=") {
		t.Errorf("a CURVE client without the server key should be told how to give it: %v", err)
	}
}

func newSecureQueueClient(t testing.TB, endpoint string, sec core.Security) *QueueClient {
	t.Helper()
	c, err := NewQueueClient(endpoint, WithSecurity(sec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newSecureBrokerClient(t testing.TB, endpoint string, sec core.Security) *BrokerClient {
	t.Helper()
	c, err := NewBrokerClient(endpoint, WithSecurity(sec))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A CURVE zmp node's topic through a CURVE forwarder: the forwarder
// dials the node's PUB socket with the key the node announces.
func TestSecurityForwarderCoreNode(t *testing.T) {
	nodeKP, fwdKP, subKP := keyPair(t), keyPair(t), keyPair(t)
	ctx := testContext(t, wait)
	node, err := core.NewPeer(ctx, "sensor", core.WithRegistry(core.NewMemRegistry()),
		core.WithSecurity(core.Curve(nodeKP, quietAuth(t, core.AllowKeys(fwdKP.Public)))))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	info := node.Info()
	if info.Key != nodeKP.Public.String() {
		t.Fatalf("node announces key %q", info.Key)
	}
	node.Advertise("temperature")
	key, err := core.ParseKey(info.Key)
	if err != nil {
		t.Fatal(err)
	}
	f := newForwarder(t, transports[0], WithConnect(core.KeyedEndpoint(info.Pub, key)),
		WithSecurity(core.Curve(fwdKP, quietAuth(t, core.AllowKeys(nodeKP.Public, subKP.Public)))))
	sub := securePeer(t, f.BackendEndpoint(), zmtp.Sub, core.Curve(subKP, quietAuth(t, core.AllowKeys(fwdKP.Public))), fwdKP.Public)
	sub.send(t, []byte("\x01temp"))
	waitUntil(t, wait, "node's publication through the forwarder", func() bool {
		node.Publish("temperature", []byte("21.5"))
		select {
		case got := <-sub.in:
			return string(got[0]) == "temperature\x00" && string(got[len(got)-1]) == "21.5"
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
}

// NullAuth's address rules apply on a proxy: a denied tcp network is
// refused, ipc peers (local) pass.
func TestSecurityNullAuthAddresses(t *testing.T) {
	deny := core.NullAuth(quietAuth(t, core.DenyAddrs("127.0.0.0/8")))
	q, err := NewQueue("tcp://127.0.0.1:0", ipcEndpoint(t), WithSecurity(deny))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := dialSecure(q.FrontendEndpoint(), zmtp.Dealer, core.Security{}, core.Key{}); err == nil {
		t.Fatal("a denied tcp address got in")
	}
	c, err := dialSecure(q.BackendEndpoint(), zmtp.Dealer, core.Security{}, core.Key{})
	if err != nil {
		t.Fatalf("ipc peer refused: %v", err)
	}
	c.Close()
	if st := deny.Authenticator().Stats(); st.DeniedAddress != 1 || st.Allowed != 1 {
		t.Fatalf("authenticator stats %+v", st)
	}
}
