package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// secMode is one security mechanism set up around a proxy: the proxy's
// own Security, a Go peer it admits and one it refuses, and the same
// two for the python scripts (see testdata/zmpsec.py).
type secMode struct {
	name       string
	server     core.Security // the proxy's
	key        core.Key      // the proxy's public key; zero for PLAIN
	peer       core.Security // admitted
	stranger   core.Security // refused: unknown key, or bad password
	py         string        // ZMP_PY_SEC of an admitted python peer
	pyStranger string
}

// endpoint returns ep as a Go peer of this mode dials it.
func (m secMode) endpoint(ep string) string { return core.KeyedEndpoint(ep, m.key) }

func quietAuth(t testing.TB, opts ...core.AuthOption) *core.Authenticator {
	t.Helper()
	a, err := core.NewAuthenticator(append(opts, core.WithAuthLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func keyPair(t testing.TB) core.KeyPair {
	t.Helper()
	kp, err := core.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// curveMode: the proxy admits one client key; clients trust the proxy's.
func curveMode(t testing.TB) secMode {
	proxyKP, good, stranger := keyPair(t), keyPair(t), keyPair(t)
	trustProxy := func() *core.Authenticator { return quietAuth(t, core.AllowKeys(proxyKP.Public)) }
	pySpec := func(kp core.KeyPair) string {
		return fmt.Sprintf("curve %s %s %s", proxyKP.Public, kp.Public, kp.Secret)
	}
	return secMode{
		name:       "curve",
		server:     core.Curve(proxyKP, quietAuth(t, core.AllowKeys(good.Public))),
		key:        proxyKP.Public,
		peer:       core.Curve(good, trustProxy()),
		stranger:   core.Curve(stranger, trustProxy()),
		py:         pySpec(good),
		pyStranger: pySpec(stranger),
	}
}

// plainMode: the proxy admits alice with her password.
func plainMode(t testing.TB) secMode {
	return secMode{
		name:       "plain",
		server:     core.Plain("proxy", "", quietAuth(t, core.AllowUser("alice", "s3cret"))),
		peer:       core.Plain("alice", "s3cret", quietAuth(t)),
		stranger:   core.Plain("alice", "guess", quietAuth(t)),
		py:         "plain alice s3cret",
		pyStranger: "plain alice guess",
	}
}

func forEachSecMode(t *testing.T, f func(t *testing.T, m secMode, tr transport)) {
	for _, mk := range []func(testing.TB) secMode{curveMode, plainMode} {
		m := mk(t)
		for _, tr := range transports {
			t.Run(m.name+"/"+tr.name, func(t *testing.T) { f(t, m, tr) })
		}
	}
}

// dialSecure dials endpoint as a raw socket of type typ under sec,
// expecting a server with key.
func dialSecure(endpoint string, typ zmtp.SocketType, sec core.Security, key core.Key) (*zmtp.Conn, error) {
	z, err := sec.ClientSocket(key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return sock.Dial(ctx, endpoint, zmtp.Config{Type: typ, Security: z}, 5*time.Second)
}

// securePeer is dialPeer under sec.
func securePeer(t testing.TB, endpoint string, typ zmtp.SocketType, sec core.Security, key core.Key) *peer {
	t.Helper()
	c, err := dialSecure(endpoint, typ, sec, key)
	if err != nil {
		t.Fatalf("dial %s as %s under %s: %v", endpoint, typ, sec.Mechanism(), err)
	}
	p := &peer{in: make(chan [][]byte, 10000)}
	p.link = sock.StartLink(c, sock.LinkConfig{OnMessage: func(_ *sock.Link, f [][]byte) {
		select {
		case p.in <- f:
		default:
		}
	}})
	t.Cleanup(func() { p.link.Close() })
	return p
}

// pyCmd is a python script from testdata run with the security specs
// in env (ROLE=SPEC pairs, or "=SPEC" for every role).
func pyCmd(ctx context.Context, env map[string]string, script string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, python, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.WaitDelay = time.Second
	cmd.Env = os.Environ()
	for role, spec := range env {
		name := "ZMP_PY_SEC"
		if role != "" {
			name += "_" + strings.ToUpper(role)
		}
		cmd.Env = append(cmd.Env, name+"="+spec)
	}
	return cmd
}

// runPySec is runPy with security specs.
func runPySec(t *testing.T, env map[string]string, script string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := pyCmd(ctx, env, script, args...).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || lines[len(lines)-1] != "ok" {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return lines
}

// startPySec starts a long-running python peer and returns a function
// that waits for it to finish and fails the test unless it printed
// "ok" last.
func startPySec(t *testing.T, env map[string]string, script string, args ...string) (wait func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := pyCmd(ctx, env, script, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	finished := false
	t.Cleanup(func() {
		if !finished {
			cancel()
			<-done
		}
		cancel()
	})
	return func() {
		t.Helper()
		err := <-done
		finished = true
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if err != nil || lines[len(lines)-1] != "ok" {
			t.Fatalf("%s: %v\n%s", script, err, out.String())
		}
	}
}
