package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// An agent refuses to run unauthenticated unless told to, and then only
// on a loopback address; with CURVE, it refuses an Authenticator that
// admits any key.
func TestInsecureRefused(t *testing.T) {
	kp, err := core.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	named, _ := core.NewAuthenticator(core.AllowKeys(kp.Public))
	anyKey, _ := core.NewAuthenticator(core.AllowAnyKey())
	plain, _ := core.NewAuthenticator(core.AllowUser("u", "p"))
	tests := []struct {
		name string
		opts []Option
		want error
	}{
		{"no security", nil, ErrInsecure},
		{"insecure on a routable address", []Option{WithInsecure(true), WithBind("tcp://10.1.2.3:7000")}, ErrInsecure},
		{"insecure on localhost", []Option{WithInsecure(true), WithBind("tcp://localhost:0")}, nil},
		{"insecure on ::1", []Option{WithInsecure(true), WithBind("tcp://[::1]:0")}, nil},
		{"insecure on 127.0.0.2", []Option{WithInsecure(true), WithBind("tcp://127.0.0.2:7000")}, nil},
		{"wildcard", []Option{WithInsecure(true), WithBind("tcp://0.0.0.0:7000")}, ErrBadOption},
		{"ipc", []Option{WithInsecure(true), WithBind("ipc:///tmp/x")}, ErrBadOption},
		{"curve and insecure", []Option{WithSecurity(core.Curve(kp, named)), WithInsecure(true)}, ErrBadOption},
		{"curve on a routable address", []Option{WithSecurity(core.Curve(kp, named)), WithBind("tcp://10.1.2.3:7000")}, nil},
		{"curve admitting any key", []Option{WithSecurity(core.Curve(kp, anyKey))}, ErrInsecure},
		{"plain", []Option{WithSecurity(core.Plain("u", "p", plain))}, ErrBadOption},
		{"bad labels", []Option{WithInsecure(true), WithLabels(map[string]string{"Zone": "x"})}, ErrBadOption},
		{"the agent's label", []Option{WithInsecure(true), WithLabels(map[string]string{LabelAgent: "x"})}, ErrBadOption},
		{"bad name", []Option{WithInsecure(true), WithName("a b")}, ErrBadOption},
		{"bad supervisor option", []Option{WithInsecure(true), WithSupervisorOptions(nil)}, ErrBadOption},
		{"bad log limits", []Option{WithInsecure(true), WithLogLimits(10, 10, 100)}, ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(testLauncher, tt.opts...)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (a != nil) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
		})
	}
}

// With CURVE, the clients whose keys the agent's Authenticator admits
// place nodes, and reach them (the nodes share the agent's keys);
// another client is refused at the handshake and places nothing.
func TestCurveAgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agentKeys, _ := core.GenerateKeyPair()
	clientKeys, _ := core.GenerateKeyPair()
	strangerKeys, _ := core.GenerateKeyPair()
	auth, err := core.NewAuthenticator(core.AllowKeys(agentKeys.Public, clientKeys.Public))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := core.NewDirRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(testLauncher, WithName("secure"), WithSecurity(core.Curve(agentKeys, auth)),
		WithPeerOptions(core.WithRegistry(reg)), WithLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	trustAgent, _ := core.NewAuthenticator(core.AllowKeys(agentKeys.Public))
	client := func(name string, kp core.KeyPair) *Client {
		p, err := core.NewPeer(ctx, name, core.WithRegistry(reg), core.WithSecurity(core.Curve(kp, trustAgent)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return NewClient(p)
	}
	ok := client("ok", clientKeys)
	st, err := ok.Start(ctx, "secure", Spec{Name: "g", Kind: "greeter"})
	if err != nil || st.State != StateRunning {
		t.Fatalf("allowed client: %+v, %v", st, err)
	}
	got, err := core.Call[string](ctx, ok.p, "g.greet", "you", core.OnNode("g"))
	if err != nil || got != "hello, you" {
		t.Fatalf("calling the node over CURVE: %q, %v", got, err)
	}
	if status, err := ok.Status(ctx, "secure"); err != nil || status.Security != "CURVE" {
		t.Errorf("status: %+v, %v", status, err)
	}

	stranger := client("stranger", strangerKeys)
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	if _, err := stranger.Start(sctx, "secure", Spec{Name: "evil", Kind: "calc"}); err == nil {
		t.Fatal("a client with a key the agent does not admit placed a node")
	}
	if nodes := a.Nodes(); len(nodes) != 1 {
		t.Errorf("nodes: %+v", nodes)
	}
	if denied := auth.Stats().DeniedKey; denied == 0 {
		t.Error("the stranger's key was not refused by the authenticator")
	}
}
