package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// cluster is a set of key pairs and the authenticator every node of a
// test cluster shares: it admits exactly the listed keys.
type cluster struct {
	keys map[string]KeyPair
	auth *Authenticator
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func newCluster(t testing.TB, names ...string) *cluster {
	t.Helper()
	c := &cluster{keys: map[string]KeyPair{}}
	var pubs []Key
	for _, n := range names {
		kp, err := GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		c.keys[n] = kp
		pubs = append(pubs, kp.Public)
	}
	auth, err := NewAuthenticator(AllowKeys(pubs...), AllowUser("alice", "s3cret"), WithAuthLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	c.auth = auth
	return c
}

func (c *cluster) curve(name string) Option { return WithSecurity(Curve(c.keys[name], c.auth)) }

func (c *cluster) plain(user, password string) Option {
	return WithSecurity(Plain(user, password, c.auth))
}

// secured runs f once per mechanism with options for a server and for
// a client admitted by it.
func secured(t *testing.T, f func(t *testing.T, e *tenv, c *cluster, server, client Option)) {
	eachTransport(t, func(t *testing.T, _ *tenv) {
		for _, mech := range []string{"CURVE", "PLAIN"} {
			t.Run(mech, func(t *testing.T) {
				e := newTenv(t, Transport(strings.Split(t.Name(), "/")[1]))
				c := newCluster(t, "server", "client")
				server, client := c.curve("server"), c.curve("client")
				if mech == "PLAIN" {
					server, client = c.plain("alice", "s3cret"), c.plain("alice", "s3cret")
				}
				f(t, e, c, server, client)
			})
		}
	})
}

func TestSecuredCallAndSubscribe(t *testing.T) {
	secured(t, func(t *testing.T, e *tenv, c *cluster, server, client Option) {
		srv := e.peer("srv", server)
		srv.HandleFunc("whoami", func(_ context.Context, r *Request) ([]byte, error) { return []byte(r.User), nil })
		mustAdvertise(t, srv, "news")
		cli := e.peer("cli", client)
		ctx := e.ctx(20 * time.Second)
		got, err := cli.Call(ctx, "whoami", nil)
		if err != nil {
			t.Fatal(err)
		}
		wantUser := "alice"
		if srv.Info().Security == "CURVE" {
			wantUser = c.keys["client"].Public.String()
			if srv.Info().Key != c.keys["server"].Public.String() {
				t.Fatalf("registry entry key %q, want the server's public key", srv.Info().Key)
			}
		}
		if string(got) != wantUser {
			t.Fatalf("handler saw user %q, want %q", got, wantUser)
		}
		sub := e.subscribe(cli, "news")
		waitConnected(t, ctx, sub, 1)
		mustPublish(t, srv, "news", []byte("hello"))
		if m := nextMsg(t, sub); string(m.Data) != "hello" {
			t.Fatalf("got %q", m.Data)
		}
		if st := c.auth.Stats(); st.Allowed < 2 || st.Denied != 0 {
			t.Fatalf("authenticator stats %+v", st)
		}
	})
}

// refusedCall calls "add" expecting failure; the provider's handler
// must not have run.
func refusedCall(t *testing.T, e *tenv, cli, srv *Peer, want error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Call[int](ctx, cli, "add", addReq{1, 2})
	if !errors.Is(err, ErrNoProvider) && !errors.Is(err, ErrTimeout) {
		t.Fatalf("call error %v, want ErrNoProvider or ErrTimeout", err)
	}
	if want != nil && !errors.Is(err, want) && !strings.Contains(err.Error(), want.Error()) {
		t.Fatalf("call error %v does not say %v", err, want)
	}
	if n := serviceCalls(srv, "add"); n != 0 {
		t.Fatalf("handler ran %d times for a refused caller", n)
	}
}

func TestSecurityRefusals(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		c := newCluster(t, "server", "client")
		srv := e.peer("srv", c.curve("server"))
		provideAdd(t, srv)
		stranger, err := GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		// The stranger trusts the server but the server does not know it.
		trusting, _ := NewAuthenticator(AllowKeys(c.keys["server"].Public), WithAuthLogger(quietLogger))
		// A client whose authenticator does not trust the server's key.
		distrustful, _ := NewAuthenticator(AllowKeys(c.keys["client"].Public), WithAuthLogger(quietLogger))
		cases := []struct {
			name string
			opt  Option
			want error
		}{
			{"unknown client key", WithSecurity(Curve(stranger, trusting)), ErrDenied},
			{"untrusted server key", WithSecurity(Curve(c.keys["client"], distrustful)), ErrUntrusted},
			{"NULL client", nil, nil},
			{"PLAIN client", c.plain("alice", "s3cret"), nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var opts []Option
				if tc.opt != nil {
					opts = append(opts, tc.opt)
				}
				cli := e.peer("", opts...)
				refusedCall(t, e, cli, srv, tc.want)
			})
		}
		if st := c.auth.Stats(); st.DeniedKey == 0 {
			t.Fatalf("authenticator stats %+v: the unknown key was not counted", st)
		}
		// A good client is still served after all that.
		callAdd(t, e.ctx(20*time.Second), e.peer("good", c.curve("client")), 2, 3)
	})
}

func TestPlainWrongPassword(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		c := newCluster(t)
		srv := e.peer("srv", c.plain("alice", "s3cret"))
		provideAdd(t, srv)
		refusedCall(t, e, e.peer("", c.plain("alice", "wrong")), srv, ErrDenied)
		if st := c.auth.Stats(); st.DeniedPassword == 0 {
			t.Fatalf("stats %+v", st)
		}
		callAdd(t, e.ctx(20*time.Second), e.peer("good", c.plain("alice", "s3cret")), 2, 3)
	})
}

func TestSecurityOptionValidation(t *testing.T) {
	kp, _ := GenerateKeyPair()
	other, _ := GenerateKeyPair()
	auth, _ := NewAuthenticator()
	cases := map[string]Security{
		"curve without authenticator": Curve(kp, nil),
		"curve zero keys":             Curve(KeyPair{}, auth),
		"curve mismatched pair":       Curve(KeyPair{Public: other.Public, Secret: kp.Secret}, auth),
		"plain without user":          Plain("", "x", auth),
		"plain without authenticator": Plain("u", "p", nil),
		"plain long password":         Plain("u", strings.Repeat("p", 256), auth),
	}
	for name, s := range cases {
		if _, err := buildConfig([]Option{WithSecurity(s)}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := buildConfig([]Option{WithSecurity(Curve(kp, auth)), WithSecurity(Security{})}); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

func TestSecuredRegistryNode(t *testing.T) {
	c := newCluster(t, "registry", "a", "b")
	backing := NewMemRegistry()
	rs, err := NewRegistryServer(context.Background(), "tcp://127.0.0.1:0", backing, c.curve("registry"))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	addr := rs.Address()
	if !strings.Contains(addr, "?key="+c.keys["registry"].Public.String()) {
		t.Fatalf("registry address %q lacks its key", addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	newPeer := func(name string, opts ...Option) *Peer {
		p, err := NewPeer(ctx, name, append([]Option{WithRegistryAddress(addr), WithDiscoveryInterval(25 * time.Millisecond)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	a := newPeer("a", c.curve("a"))
	provideAdd(t, a)
	callAdd(t, ctx, newPeer("b", c.curve("b")), 4, 5)

	// A node without CURVE cannot register with, nor read, the registry.
	shortCtx, cancel2 := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel2()
	if _, err := NewPeer(shortCtx, "intruder", WithRegistryAddress(addr)); err == nil {
		t.Fatal("a NULL node registered with a CURVE registry node")
	}
	nodes, err := backing.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == "intruder" {
			t.Fatal("intruder is in the registry")
		}
	}
}
