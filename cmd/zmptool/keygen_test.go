package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	var out, errOut strings.Builder
	if code := run([]string{"zmptool", "keygen", "--dir", dir, "alice"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	kp, err := core.LoadKeyPair(filepath.Join(dir, "alice.key_secret"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), kp.Public.String()) {
		t.Fatalf("output %q lacks the public key", out.String())
	}
	if fi, _ := os.Stat(filepath.Join(dir, "alice.key_secret")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret mode %v", fi.Mode())
	}
	cases := []struct {
		args []string
		code int
	}{
		{[]string{"keygen"}, exitUsage},
		{[]string{"keygen", "a", "b"}, exitUsage},
		{[]string{"keygen", "--dir", dir, "alice"}, exitFailure}, // exists
		{[]string{"keygen", "--dir", filepath.Join(dir, "missing"), "bob"}, exitFailure},
		{[]string{"registry", "--curve-secret", filepath.Join(dir, "alice.key_secret")}, exitUsage}, // no allow rule
		{[]string{"registry", "--curve-secret", "x", "--plain-user", "u", "--allow-any-key"}, exitUsage},
	}
	for _, tc := range cases {
		if code := run(append([]string{"zmptool"}, tc.args...), io.Discard, io.Discard); code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, code, tc.code)
		}
	}
}

// TestRegistryCommandCurve runs a CURVE registry node from keygen'd
// files; a node with an admitted key registers, and the printed
// address carries the registry's key.
func TestRegistryCommandCurve(t *testing.T) {
	dir := t.TempDir()
	allowed := filepath.Join(dir, "allowed")
	if err := os.Mkdir(allowed, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--dir", dir, "registry"}, {"--dir", allowed, "node"}} {
		if code := run(append([]string{"zmptool", "keygen"}, args...), io.Discard, io.Discard); code != exitOK {
			t.Fatalf("keygen %v: exit %d", args, code)
		}
	}
	// The registry trusts the node's key; the node trusts the registry's.
	regPub, err := core.LoadPublicKey(filepath.Join(dir, "registry.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		app := newApp(nil, out, io.Discard)
		done <- app.RunContext(ctx, []string{"zmptool", "registry", "--listen", "tcp://127.0.0.1:0",
			"--curve-secret", filepath.Join(dir, "registry.key_secret"), "--allow-keys", allowed})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registry command: %v", err)
		}
	}()
	addr := waitMatch(t, out, regexp.MustCompile(`ZMP_REGISTRY=(\S+)`))
	if !strings.HasSuffix(addr, "?key="+regPub.String()) {
		t.Fatalf("address %q does not end with the registry key", addr)
	}
	nodeKeys, err := core.LoadKeyPair(filepath.Join(allowed, "node.key_secret"))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := core.NewAuthenticator(core.AllowKeys(regPub, nodeKeys.Public))
	if err != nil {
		t.Fatal(err)
	}
	callCtx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	p, err := core.NewPeer(callCtx, "curve-node", core.WithRegistryAddress(addr), core.WithSecurity(core.Curve(nodeKeys, auth)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if info, err := core.Lookup(callCtx, p.Registry(), "curve-node"); err != nil || info.Key != nodeKeys.Public.String() {
		t.Fatalf("lookup: %+v, %v", info, err)
	}
}

// TestCallSecured: zmptool call reaches a CURVE node with the security
// flags, and is refused without them.
func TestCallSecured(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"server", "tool"} {
		if code := run([]string{"zmptool", "keygen", "--dir", keys, name}, io.Discard, io.Discard); code != exitOK {
			t.Fatalf("keygen %s: exit %d", name, code)
		}
	}
	reg, err := core.NewDirRegistry(filepath.Join(dir, "reg"))
	if err != nil {
		t.Fatal(err)
	}
	serverKeys, err := core.LoadKeyPair(filepath.Join(keys, "server.key_secret"))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := core.NewAuthenticator(core.AllowKeyDir(keys))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv, err := core.NewPeer(ctx, "secure-calc", core.WithRegistry(reg), core.WithSecurity(core.Curve(serverKeys, auth)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := core.Provide(srv, "add", func(_ context.Context, r struct{ A, B int }) (int, error) { return r.A + r.B, nil }); err != nil {
		t.Fatal(err)
	}
	var out, errOut strings.Builder
	args := []string{"zmptool", "call", "--registry", reg.Dir(), "--timeout", "5s",
		"--curve-secret", filepath.Join(keys, "tool.key_secret"), "--allow-keys", keys, "add", `{"A":40,"B":2}`}
	if code := run(args, &out, &errOut); code != exitOK || strings.TrimSpace(out.String()) != "42" {
		t.Fatalf("secured call: exit %d, out %q, err %q", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"zmptool", "call", "--registry", reg.Dir(), "--timeout", "3s", "add", `{"A":1,"B":2}`}, io.Discard, &errOut); code != exitFailure {
		t.Fatalf("NULL call to a CURVE node: exit %d, stderr %q", code, errOut.String())
	}
}
