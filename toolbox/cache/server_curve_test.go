package cache

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

func curveSecurity(t *testing.T, kp core.KeyPair, trusted ...core.Key) core.Security {
	t.Helper()
	auth, err := core.NewAuthenticator(core.AllowKeys(trusted...), core.WithAuthLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return core.Curve(kp, auth)
}

func genKeys(t *testing.T) core.KeyPair {
	t.Helper()
	kp, err := core.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// The server runs on a CURVE peer: its services, update topic and
// snapshot work for a client it admits, and not for one it does not.
func TestServerOverCurve(t *testing.T) {
	srvKP, cliKP, strangerKP := genKeys(t), genKeys(t), genKeys(t)
	e := newSenv(t, core.TCP)
	sp := e.peer("cache-node", core.WithSecurity(curveSecurity(t, srvKP, cliKP.Public)))
	s, err := NewServer(sp, "cache")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if sp.Info().Security != "CURVE" {
		t.Fatalf("server peer security %q", sp.Info().Security)
	}
	cp := e.peer("client", core.WithSecurity(curveSecurity(t, cliKP, srvKP.Public)))
	c, err := NewClient(cp, "cache")
	if err != nil {
		t.Fatal(err)
	}
	sub := updates(t, cp, "cache")
	ctx := testCtx(t, 20*time.Second)
	ver, err := c.Set(ctx, "secret", []byte("value"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if v, got, err := c.Get(ctx, "secret"); err != nil || string(v) != "value" || got != ver {
		t.Fatalf("get over CURVE: %q %d %v", v, got, err)
	}
	if _, err := c.CompareAndSet(ctx, "secret", ver, []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Delete(ctx, "secret"); !ok || err != nil {
		t.Fatalf("delete over CURVE: %v %v", ok, err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if u := nextUpdate(t, sub); u.seq != seq || u.key != "secret" {
			t.Fatalf("update %+v", u)
		}
	}
	c.Set(ctx, "kept", []byte("k"), 0)
	if h, recs := download(t, cp, "cache"); h.seq != 4 || string(recs["kept"].value) != "k" {
		t.Fatalf("snapshot over CURVE: %+v %v", h, recs)
	}
	// A client whose key the server does not admit gets nothing.
	stranger, err := NewClient(e.peer("stranger", core.WithSecurity(curveSecurity(t, strangerKP, srvKP.Public))), "cache")
	if err != nil {
		t.Fatal(err)
	}
	sctx := testCtx(t, 2*time.Second)
	if _, _, err := stranger.Get(sctx, "kept"); !errors.Is(err, core.ErrDenied) {
		t.Fatalf("a client the server does not admit: %v, want ErrDenied", err)
	}
}
