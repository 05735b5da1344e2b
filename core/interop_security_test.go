package core_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// zsecDir holds zsec.py, the scripts' security settings, shared with
// the socket-level interop tests.
var zsecDir = filepath.Join("..", "internal", "sock", "testdata", "interop")

// pySecurity describes one mechanism for the interop tests: the zmp
// side's options and ZMP_PY_SECURITY for a python client or server.
type pySecurity struct {
	name             string
	zmpServer        func(t *testing.T) core.Option // admits the python client
	zmpClient        func(t *testing.T) (core.Option, string)
	pyClient, pyServ map[string]any
}

func pySecurities(t *testing.T) []pySecurity {
	pyKeys, err := core.GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	zmpKeys, _ := core.GenerateKeyPair()
	pyServerKeys, _ := core.GenerateKeyPair()
	auth := func(t *testing.T, opts ...core.AuthOption) *core.Authenticator {
		a, err := core.NewAuthenticator(opts...)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return []pySecurity{
		{
			name: "CURVE",
			zmpServer: func(t *testing.T) core.Option {
				return core.WithSecurity(core.Curve(zmpKeys, auth(t, core.AllowKeys(pyKeys.Public))))
			},
			zmpClient: func(t *testing.T) (core.Option, string) {
				return core.WithSecurity(core.Curve(zmpKeys, auth(t, core.AllowKeys(pyServerKeys.Public)))), pyServerKeys.Public.String()
			},
			pyClient: map[string]any{"mechanism": "CURVE", "public": pyKeys.Public.String(), "secret": pyKeys.Secret.String()},
			pyServ: map[string]any{"mechanism": "CURVE", "server": true, "public": pyServerKeys.Public.String(),
				"secret": pyServerKeys.Secret.String(), "allow": []string{zmpKeys.Public.String()}},
		},
		{
			name: "PLAIN",
			zmpServer: func(t *testing.T) core.Option {
				return core.WithSecurity(core.Plain("zmp", "unused", auth(t, core.AllowUser("py", "pw-py"))))
			},
			zmpClient: func(t *testing.T) (core.Option, string) {
				return core.WithSecurity(core.Plain("zmp", "pw-zmp", auth(t))), ""
			},
			pyClient: map[string]any{"mechanism": "PLAIN", "user": "py", "password": "pw-py"},
			pyServ:   map[string]any{"mechanism": "PLAIN", "server": true, "passwords": map[string]string{"zmp": "pw-zmp"}},
		},
	}
}

func pyCommand(ctx context.Context, t *testing.T, settings map[string]any, script string, args ...string) *exec.Cmd {
	b, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, interopPython, append([]string{"testdata/interop/" + script}, args...)...)
	cmd.Env = append(os.Environ(), "ZMP_PY_SECURITY="+string(b), "PYTHONPATH="+zsecDir)
	cmd.WaitDelay = time.Second
	return cmd
}

// TestInteropSecuredClient: a pyzmq (libzmq) CURVE or PLAIN client
// calls a secured zmp service and subscribes to a secured zmp topic.
func TestInteropSecuredClient(t *testing.T) {
	requirePython(t)
	for _, sec := range pySecurities(t) {
		for _, tr := range interopTransports {
			t.Run(sec.name+"/"+string(tr), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				p, regDir := newInteropPeer(t, ctx, tr, sec.zmpServer(t))
				interopMust(t, core.Provide(p, "add", func(ctx context.Context, r struct{ A, B int }) (int, error) {
					return r.A + r.B, nil
				}))
				interopMust(t, p.Advertise("news"))
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					tick := time.NewTicker(10 * time.Millisecond)
					defer tick.Stop()
					for n := 0; ; n++ {
						core.Publish(p, "news", map[string]int{"n": n})
						select {
						case <-stop:
							return
						case <-tick.C:
						}
					}
				}()
				out, err := pyCommand(ctx, t, sec.pyClient, "secure_client.py", regDir, interopNode).CombinedOutput()
				if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "ok") {
					t.Fatalf("secure_client.py: %v\n%s", err, out)
				}
				if st := p.Stats().Services["add"]; st.Calls != 1 {
					t.Fatalf("add served %d calls, want 1", st.Calls)
				}
			})
		}
	}
}

// TestInteropSecuredServer: a zmp CURVE or PLAIN client calls a pyzmq
// server whose libzmq ZAP authenticator checks the zmp client.
func TestInteropSecuredServer(t *testing.T) {
	requirePython(t)
	for _, sec := range pySecurities(t) {
		t.Run(sec.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const calls = 20
			cmd := pyCommand(ctx, t, sec.pyServ, "secure_server.py", fmt.Sprint(calls))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stdout)
			if !lines.Scan() {
				cmd.Wait()
				t.Fatalf("python server printed no endpoint; stderr:\n%s", stderr.String())
			}
			endpoint := lines.Text()

			opt, key := sec.zmpClient(t)
			reg := core.NewMemRegistry()
			info := core.NodeInfo{Name: "pyserver", ID: "py-1", Host: "python", RPC: endpoint, Services: []string{"add"}, Started: time.Now(), Key: key}
			if key != "" {
				info.Security = "CURVE"
			}
			interopMust(t, reg.Register(ctx, info, time.Minute))
			cli, err := core.NewPeer(ctx, "zmp-client", core.WithRegistry(reg), opt)
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			for i := range calls {
				sum, err := core.Call[int](ctx, cli, "add", struct{ A, B int }{i, 100})
				if err != nil || sum != i+100 {
					t.Fatalf("call %d: %d, %v; python stderr:\n%s", i, sum, err, stderr.String())
				}
			}
			var rest []string
			for lines.Scan() {
				rest = append(rest, lines.Text())
			}
			if err := cmd.Wait(); err != nil || len(rest) == 0 || rest[len(rest)-1] != "ok" {
				t.Fatalf("python server: %v %q\n%s", err, rest, stderr.String())
			}
		})
	}
}
