package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/agent"
)

// envRequireNetns makes the multi-host test fail, not skip, where it
// cannot create network namespaces (CI sets it).
const envRequireNetns = "ZMP_REQUIRE_NETNS"

// lab is a few "hosts": Linux network namespaces, each with a veth pair
// to a bridge in this (the root) namespace, on a /24 of 10.x.y.0 that
// the bridge holds .1 of and host i holds .(10+i) of. Every name is
// unique to the run; all is removed when the test ends, failed or not.
type lab struct {
	t      *testing.T
	id     string // in every name
	prefix string // "10.x.y."
	bridge string
	hosts  []string // namespace names
}

// skipWithoutNetns skips the test (fails it with $ZMP_REQUIRE_NETNS=1)
// when why is not empty.
func skipWithoutNetns(t *testing.T, why string) {
	t.Helper()
	if why == "" {
		return
	}
	if os.Getenv(envRequireNetns) == "1" {
		t.Fatalf("the multi-host test cannot run (%s) and $%s=1", why, envRequireNetns)
	}
	t.Skipf("the multi-host test needs root and `ip netns` (%s); set $%s=1 to make this a failure", why, envRequireNetns)
}

// ip runs the ip command and fails the test on an error.
func (l *lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newLab makes n hosts.
func newLab(t *testing.T, n int) *lab {
	t.Helper()
	switch {
	case os.Geteuid() != 0:
		skipWithoutNetns(t, "not root")
	case exec.Command("ip", "netns", "list").Run() != nil:
		skipWithoutNetns(t, "`ip netns list` fails")
	}
	b := make([]byte, 3)
	rand.Read(b)
	x, _ := rand.Int(rand.Reader, big.NewInt(150))
	l := &lab{t: t, id: hex.EncodeToString(b), prefix: fmt.Sprintf("10.%d.%d.", 100+x.Int64(), b[0])}
	l.bridge = "zb" + l.id
	if out, err := exec.Command("ip", "link", "add", l.bridge, "type", "bridge").CombinedOutput(); err != nil {
		skipWithoutNetns(t, fmt.Sprintf("ip link add type bridge: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", l.bridge).Run() })
	l.ip("addr", "add", l.prefix+"1/24", "dev", l.bridge)
	l.ip("link", "set", l.bridge, "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("zmp-%s-h%d", l.id, i)
		l.ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		outside, inside := l.veth(i)
		l.ip("link", "add", outside, "type", "veth", "peer", "name", inside)
		t.Cleanup(func() { exec.Command("ip", "link", "del", outside).Run() }) // gone with the namespace, unless moving it failed
		l.ip("link", "set", inside, "netns", ns)
		l.ip("link", "set", outside, "master", l.bridge, "up")
		l.ip("netns", "exec", ns, "ip", "addr", "add", l.addr(i)+"/24", "dev", inside)
		l.ip("netns", "exec", ns, "ip", "link", "set", inside, "up")
		l.ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
		l.hosts = append(l.hosts, ns)
	}
	return l
}

// veth names host i's pair: outside (on the bridge) and inside.
func (l *lab) veth(i int) (outside, inside string) {
	return fmt.Sprintf("zv%s%d", l.id, i), fmt.Sprintf("zp%s%d", l.id, i)
}

// addr is host i's address.
func (l *lab) addr(i int) string { return fmt.Sprintf("%s%d", l.prefix, 10+i) }

// link cuts (up false) or restores host i's link to the others.
func (l *lab) link(i int, up bool) {
	outside, _ := l.veth(i)
	state := "down"
	if up {
		state = "up"
	}
	l.ip("link", "set", outside, state)
}

// netnsKeys writes a CURVE key pair per name: the secrets in dir/secret,
// the public keys in dir/public, which every party allows.
func netnsKeys(t *testing.T, dir string, names ...string) (secret, public string) {
	t.Helper()
	secret, public = filepath.Join(dir, "secret"), filepath.Join(dir, "public")
	for _, d := range []string{secret, public} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		kp, err := core.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		pub, _, err := kp.WriteFiles(secret, n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(public, n+core.PublicKeySuffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return secret, public
}

// Three hosts as network namespaces, an agent on each (this test binary
// as `zmptool agent`, under CURVE), a registry node on the bridge, and
// zmptool as the controller: nodes placed on named hosts call each
// other; one host's link is cut and its nodes are reported gone, then
// rediscovered, still the same processes, when it returns; a controller
// that comes back re-adopts every node without restarting it.
func TestMultiHostNetns(t *testing.T) {
	l := newLab(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	secret, public := netnsKeys(t, t.TempDir(), "registry", "host-1", "host-2", "host-3", "controller")
	regKeys, err := core.LoadKeyPair(filepath.Join(secret, "registry"+core.SecretKeySuffix))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := core.NewAuthenticator(core.AllowKeyDir(public))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := core.NewRegistryServer(ctx, "tcp://"+l.prefix+"1:0", nil, core.WithSecurity(core.Curve(regKeys, auth)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	secure := func(name string) []string {
		return []string{"--curve-secret", filepath.Join(secret, name+core.SecretKeySuffix), "--allow-keys", public}
	}
	for i, ns := range l.hosts {
		name := fmt.Sprintf("host-%d", i+1)
		args := append([]string{"netns", "exec", ns, mustExecutable(t), "agent", "--name", name,
			"--labels", fmt.Sprintf("host=h%d,zone=z%d", i+1, min(i+1, 2)), "--bind", "tcp://" + l.addr(i+1) + ":5560",
			"--registry", srv.Address(), "--lease-ttl", "2s", "--quiet"}, secure(name)...)
		cmd := exec.Command("ip", args...)
		cmd.Env = append(proxyEnv(), envToolMain+"=1", "GORACE=atexit_sleep_ms=0")
		p := startToolProc(t, cmd)
		p.expect(t, regexp.MustCompile(`^agent `+name+` serving on tcp://`+regexp.QuoteMeta(l.addr(i+1))+`:5560, security CURVE`))
	}
	t.Setenv("ZMP_REGISTRY", srv.Address())
	t.Setenv("ZMP_CURVE_SECRET", filepath.Join(secret, "controller"+core.SecretKeySuffix))
	t.Setenv("ZMP_ALLOW_KEYS", public)
	tool := func(args ...string) string {
		t.Helper()
		code, out, stderr := runTool(args...)
		if code != exitOK {
			t.Fatalf("zmptool %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
		return out
	}

	// Placement on named hosts, by name and by a label matching one.
	placements := [][]string{
		{"run", "--on", "host-2", "--name", "eb", "echo", "--service", "echo.b"},
		{"run", "--on", "host=h1", "--name", "ra", "echo", "--service", "relay.a", "--forward", "echo.b"},
		{"run", "--on", "host-3", "--name", "ec", "echo", "--service", "echo.c"},
	}
	for _, p := range placements {
		if out := tool(p...); !strings.HasPrefix(out, "started ") {
			t.Fatalf("%v: %s", p, out)
		}
	}
	if code, _, stderr := runTool("run", "--on", "zone=z2", "echo"); code != exitFailure || !strings.Contains(stderr, "matches 2 agents: host-2") {
		t.Errorf("a selector of two hosts: exit %d, %s", code, stderr)
	}
	// A node is registered soon after it serves, not at once (its
	// registration is retried while the registry node is out of
	// reach): the relay may not know echo.b for a moment.
	var across string
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, out, stderr := runTool("call", "relay.a", `"across"`)
		if code == exitOK {
			across = out
			break
		}
		if time.Now().After(deadline) || !strings.Contains(stderr, "no provider") {
			t.Fatalf("zmptool call relay.a: exit %d\n%s%s", code, out, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var reply echoReply
	if err := json.Unmarshal([]byte(across), &reply); err != nil {
		t.Fatal(err)
	}
	var via echoReply
	json.Unmarshal(reply.Via, &via)
	if reply.Node != "ra" || !strings.Contains(reply.RPC, l.addr(1)) || via.Node != "eb" || !strings.Contains(via.RPC, l.addr(2)) || via.Said != `"across"` {
		t.Fatalf("relay.a on host 1 through echo.b on host 2: %+v via %+v", reply, via)
	}
	pids := psPIDs(t, tool)
	if len(pids) != 3 {
		t.Fatalf("ps: %v", pids)
	}

	// Host 3 cut off: its agent and node leave the registry, ps reports
	// it, calls to its node fail.
	l.link(3, false)
	cut := time.Now()
	waitCond(t, 30*time.Second, "host-3 and ec to be reported gone", func() bool {
		names := registryNames(t)
		return !slices.Contains(names, "ec") && !slices.Contains(names, "host-3") && slices.Contains(names, "eb")
	})
	t.Logf("host 3 cut off: gone from the registry after %v", time.Since(cut).Round(time.Millisecond))
	code, out, stderr := runTool("ps", "--timeout", "2s")
	if code != exitOK || strings.Contains(out, "host-3 ") && !strings.Contains(out, "unreachable") {
		t.Errorf("ps with host 3 cut off: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, _ := runTool("call", "echo.c", `"x"`, "--timeout", "1s"); code == exitOK {
		t.Error("echo.c answered while its host was cut off")
	}

	// Link back: rediscovered, the same process.
	l.link(3, true)
	back := time.Now()
	waitCond(t, 40*time.Second, "host-3 and ec to come back", func() bool {
		names := registryNames(t)
		return slices.Contains(names, "ec") && slices.Contains(names, "host-3")
	})
	waitCond(t, 20*time.Second, "echo.c to answer", func() bool {
		code, _, _ := runTool("call", "echo.c", `"back"`, "--timeout", "2s")
		return code == exitOK
	})
	t.Logf("host 3 back: in the registry and answering after %v", time.Since(back).Round(time.Millisecond))
	if after := psPIDs(t, tool); !mapsEqual(after, pids) {
		t.Errorf("PIDs after the cut: %v, before %v", after, pids)
	}

	// A controller that comes back applies its placements again: every
	// node is adopted, none restarted.
	for _, p := range placements {
		out := tool(p...)
		name := p[4]
		if want := fmt.Sprintf("adopted %s on ", name); !strings.HasPrefix(out, want) || !strings.Contains(out, fmt.Sprintf("(pid %d, already running)", pids[name])) {
			t.Errorf("placing %s again: %q, want it adopted with pid %d", name, out, pids[name])
		}
	}
	if after := psPIDs(t, tool); !mapsEqual(after, pids) {
		t.Errorf("PIDs after the re-placement: %v, before %v", after, pids)
	}
	var ps []agentPS
	json.Unmarshal([]byte(tool("ps", "--json")), &ps)
	for _, a := range ps {
		for _, n := range a.Nodes {
			if n.Restarts != 0 || n.Requested != 0 || n.State != agent.StateRunning {
				t.Errorf("%s on %s: %+v", n.Name, a.Agent, n)
			}
		}
	}
}

// mustExecutable is this test binary.
func mustExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// psPIDs returns the PID of every node `zmptool ps` lists.
func psPIDs(t *testing.T, tool func(...string) string) map[string]int {
	t.Helper()
	var ps []agentPS
	if err := json.Unmarshal([]byte(tool("ps", "--json")), &ps); err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, a := range ps {
		for _, n := range a.Nodes {
			pids[n.Name] = n.PID
		}
	}
	return pids
}

// registryNames lists the names in the registry ($ZMP_REGISTRY).
func registryNames(t *testing.T) []string {
	t.Helper()
	code, out, _ := runTool("list", "nodes", "--json", "--timeout", "2s")
	if code != exitOK {
		return nil
	}
	var nodes []core.NodeInfo
	json.Unmarshal([]byte(out), &nodes)
	return nodeNames(nodes)
}

func waitCond(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
