package systems

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/core"
)

// Every system that runs the CURVE variants in this build: calls
// complete and published messages arrive over CURVE, and the server
// left its public key in the measurement's directory.
func TestSystemsCurve(t *testing.T) {
	ran := 0
	for _, name := range Names() {
		sys, _ := Lookup(name)
		v := spec.Variant{Transport: spec.TCP, Size: spec.Small, Security: spec.Curve}
		t.Run(name, func(t *testing.T) {
			if v.Case = spec.RTT; sys.Unsupported(v) == "" {
				ran++
				ep := Endpoint{Transport: spec.TCP, Dir: t.TempDir(), Security: spec.Curve}
				checkCalls(t, sys, ep)
				if _, err := readServerKey(ep.Dir); err != nil {
					t.Error(err)
				}
			}
			if v.Case = spec.PubSub; sys.Unsupported(v) == "" {
				checkPubSub(t, sys, Endpoint{Transport: spec.TCP, Dir: t.TempDir(), Security: spec.Curve})
			}
		})
	}
	if ran == 0 {
		t.Error("no system ran over CURVE")
	}
}

// Systems without CURVE say so, and show as "–" rather than run NULL.
func TestCurveCapable(t *testing.T) {
	v := spec.Variant{Case: spec.RTT, Transport: spec.TCP, Size: spec.Small, Security: spec.Curve}
	for name, want := range map[string]bool{"zmp": true, "libzmq": true, "tcp": false, "zmq4": false, "netrpc": false, "nats": false} {
		sys, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := sys.Capable(v) == ""; got != want {
			t.Errorf("%s: Capable(%s) = %q", name, v.ID(), sys.Capable(v))
		}
	}
}

// The zmp CURVE server really requires CURVE: a NULL client does not
// get a call through, nor does a CURVE client that trusts another key.
func TestZmpCurveRefusesOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	srv, err := newZmpEcho(ctx, Endpoint{Transport: spec.TCP, Dir: dir, Security: spec.Curve})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, c := range []struct {
		name  string
		ep    Endpoint
		setup func(t *testing.T)
		why   func(error) bool // the refusal is for the right reason
	}{
		{"null client", Endpoint{Transport: spec.TCP, Dir: dir}, func(*testing.T) {},
			func(err error) bool { return strings.Contains(err.Error(), "mechanism") }},
		{"curve client trusting another key", Endpoint{Transport: spec.TCP, Dir: dir, Security: spec.Curve}, func(t *testing.T) {
			other, err := core.GenerateKeyPair()
			if err != nil {
				t.Fatal(err)
			}
			swapServerKey(t, dir, other.Public.String())
		}, func(err error) bool { return errors.Is(err, core.ErrUntrusted) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.setup(t)
			callCtx, stop := context.WithTimeout(ctx, 5*time.Second)
			defer stop()
			cl, err := dialZmpEcho(callCtx, c.ep, srv.Addr())
			if err == nil {
				cl.Close()
				t.Fatal("a call went through")
			}
			if !c.why(err) {
				t.Errorf("refused for another reason: %v", err)
			}
		})
	}
	if n := srv.Stats()["served"]; n != 0 {
		t.Errorf("the CURVE server served %v calls", n)
	}
}

// swapServerKey replaces the key file in dir for the rest of the test.
func swapServerKey(t *testing.T, dir, z85 string) {
	t.Helper()
	path := filepath.Join(dir, serverKeyFile)
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeServerKey(dir, z85); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(path, saved, 0o644) })
}

func TestServerKeyFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := readServerKey(dir); err == nil {
		t.Error("no error without a key file")
	}
	if err := os.WriteFile(filepath.Join(dir, serverKeyFile), []byte("short\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readServerKey(dir); err == nil {
		t.Error("no error for a bad key")
	}
	kp, err := core.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeServerKey(dir, kp.Public.String()); err != nil {
		t.Fatal(err)
	}
	if got, err := readServerKey(dir); err != nil || got != kp.Public.String() {
		t.Errorf("read %q, %v; wrote %s", got, err, kp.Public)
	}
	if err := writeServerKey("", kp.Public.String()); err == nil {
		t.Error("no error without a directory")
	}
}
