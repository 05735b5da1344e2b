package core_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gozmp/zmp/core"
)

// A keyed endpoint, the form nodes announce, split and joined again.
func ExampleSplitKeyedEndpoint() {
	var key core.Key // the zero key: no "?key="
	fmt.Println(core.KeyedEndpoint("tcp://10.0.0.5:5556", key))
	ep, k, err := core.SplitKeyedEndpoint("tcp://10.0.0.5:5556?key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
	fmt.Println(ep, k, err)
	// Output:
	// tcp://10.0.0.5:5556
	// tcp://10.0.0.5:5556 rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7 <nil>
}

func TestSecuritySocketSeam(t *testing.T) {
	server, client, other := mustKeys(t), mustKeys(t), mustKeys(t)
	auth := func(keys ...core.Key) *core.Authenticator {
		a, err := core.NewAuthenticator(core.AllowKeys(keys...))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	curve := core.Curve(client, auth(server.Public))

	z, err := core.Curve(server, auth(client.Public)).ServerSocket()
	if err != nil || !z.Server || z.Mechanism != "CURVE" || z.Auth == nil || core.Key(z.PublicKey) != server.Public {
		t.Fatalf("server settings %+v, %v", z, err)
	}
	c, err := curve.ClientSocket(server.Public)
	if err != nil || c.Server || core.Key(c.ServerKey) != server.Public || core.Key(c.SecretKey) != client.Secret {
		t.Fatalf("client settings %+v, %v", c, err)
	}
	for name, key := range map[string]core.Key{"no key": {}, "untrusted key": other.Public} {
		if _, err := curve.ClientSocket(key); !errors.Is(err, core.ErrUntrusted) {
			t.Errorf("%s: err = %v, want ErrUntrusted", name, err)
		}
	}
	if _, err := core.Curve(core.KeyPair{Public: server.Public}, auth()).ServerSocket(); err == nil {
		t.Error("a key pair without its secret was accepted")
	}
	if _, err := core.Plain("", "x", auth()).ClientSocket(core.Key{}); err == nil {
		t.Error("PLAIN without a user was accepted")
	}
	p, err := core.Plain("alice", "pw", auth()).ClientSocket(other.Public) // PLAIN ignores the key
	if err != nil || p.Username != "alice" || p.Password != "pw" || p.Mechanism != "PLAIN" {
		t.Fatalf("PLAIN client settings %+v, %v", p, err)
	}
	if n, err := (core.Security{}).ServerSocket(); err != nil || n.Auth != nil {
		t.Fatalf("zero Security: %+v, %v", n, err)
	}

	if _, _, err := core.SplitKeyedEndpoint("tcp://h:1?key=short"); err == nil {
		t.Error("a malformed key was accepted")
	}
	ep, k, err := core.SplitKeyedEndpoint(core.KeyedEndpoint("ipc:///tmp/s", server.Public))
	if err != nil || ep != "ipc:///tmp/s" || k != server.Public {
		t.Fatalf("round trip: %q %v %v", ep, k, err)
	}
}

func mustKeys(t *testing.T) core.KeyPair {
	t.Helper()
	kp, err := core.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}
