//go:build libzmq

package systems

import (
	"context"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/gozmp/zmp/bench/spec"
)

// Debian's libzmq is built with libsodium: the CURVE variants run.
func TestLibzmqHasCurve(t *testing.T) {
	if !zmq.HasCurve() {
		t.Fatal("libzmq has no CURVE: the CURVE variants are skipped")
	}
	sys, _ := Lookup("libzmq")
	if why := sys.Unsupported(spec.Variant{Case: spec.RTT, Transport: spec.TCP, Size: spec.Small, Security: spec.Curve}); why != "" {
		t.Errorf("libzmq does not run rtt-curve: %s", why)
	}
}

// The libzmq CURVE server really requires CURVE: a NULL DEALER, and a
// CURVE DEALER holding the wrong server key, get no reply; the right
// key gets one.
func TestLibzmqCurveRefusesOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ep := Endpoint{Transport: spec.TCP, Dir: t.TempDir(), Security: spec.Curve}
	srv, err := newLibzmqEcho(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	right, err := readServerKey(ep.Dir)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _, err := zmq.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		key     string // "" for NULL
		replied bool
	}{{"null client", "", false}, {"wrong server key", wrong, false}, {"right server key", right, true}} {
		t.Run(c.name, func(t *testing.T) {
			wait := time.Second // a refusal costs the whole wait
			if c.replied {
				wait = 10 * time.Second
			}
			if got := libzmqEchoes(t, srv.Addr(), c.key, wait); got != c.replied {
				t.Errorf("replied: %v, want %v", got, c.replied)
			}
		})
	}
	if n := srv.Stats()["served"]; n != 1 {
		t.Errorf("the CURVE server served %v calls, want the 1 of the right key", n)
	}
}

// libzmqEchoes sends one request from a DEALER, a CURVE client of the
// server with public key key unless key is "", and reports whether a
// reply came within wait.
func libzmqEchoes(t *testing.T, addr, key string, wait time.Duration) bool {
	t.Helper()
	sock, err := newLibzmqSock(zmq.DEALER)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.close()
	if err := libzmqCurveClient(sock.s, key); err != nil {
		t.Fatal(err)
	}
	if err := sock.s.SetRcvtimeo(wait); err != nil {
		t.Fatal(err)
	}
	if err := sock.s.Connect(addr); err != nil {
		t.Fatal(err)
	}
	if _, err := sock.s.SendBytes([]byte("ping"), 0); err != nil {
		t.Fatal(err)
	}
	_, err = sock.s.RecvBytes(0)
	if err != nil && !timedOut(err) {
		t.Fatal(err)
	}
	return err == nil
}
