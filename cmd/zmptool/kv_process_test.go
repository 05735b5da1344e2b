package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// kcProcs is a store of `zmptool kv serve` processes in a directory of
// its own: data directories, a registry directory and, with CURVE, a
// key directory.
type kcProcs struct {
	t      *testing.T
	bin    string
	dir    string
	env    []string
	sec    func(id string) []string // security flags of a member or of "client"
	procs  map[string]*proxyProc
	args   map[string][]string
	addrs  map[string]string
	curved bool
}

// start starts member id with args after its own flags and returns its
// first line.
func (k *kcProcs) start(id string, args ...string) kvServeLine {
	k.t.Helper()
	if args == nil {
		args = k.args[id]
	}
	k.args[id] = args
	full := append([]string{"kv", "serve", "--json", "--id", id, "--data", filepath.Join(k.dir, id)}, args...)
	cmd := exec.Command(k.bin, append(full, k.sec(id)...)...)
	cmd.Env = k.env
	p := startToolProc(k.t, cmd) // killed at cleanup
	k.procs[id] = p
	var l kvServeLine
	m := p.expect(k.t, regexp.MustCompile(`^(\{"id".*)`))
	if err := json.Unmarshal([]byte(m[1]), &l); err != nil || l.ID != id {
		k.t.Fatalf("first line of %s: %q, %v", id, m[1], err)
	}
	if k.curved != strings.Contains(l.Raft, "?key=") {
		k.t.Fatalf("raft address of %s: %s (CURVE %v)", id, l.Raft, k.curved)
	}
	k.addrs[id] = l.Raft
	return l
}

// run runs a client command to its end.
func (k *kcProcs) run(args ...string) (code int, stdout, stderr string) {
	cmd := exec.Command(k.bin, append(append([]string{"kv"}, args...), k.sec("client")...)...)
	cmd.Env = k.env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		k.t.Fatalf("zmptool kv %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func (k *kcProcs) mustRun(args ...string) string {
	k.t.Helper()
	code, stdout, stderr := k.run(args...)
	if code != exitOK {
		k.t.Fatalf("zmptool kv %q: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
	}
	return stdout
}

func (k *kcProcs) leader() string {
	k.t.Helper()
	var ms []kvMember
	if err := json.Unmarshal([]byte(k.mustRun("members", "--json", "--timeout", "30s")), &ms); err != nil {
		k.t.Fatal(err)
	}
	for _, m := range ms {
		if m.Leader {
			return m.ID
		}
	}
	k.t.Fatalf("no leader in %+v", ms)
	return ""
}

// TestKVProcesses: three `zmptool kv serve` processes, the leader
// SIGKILLed, writes going on through the new leader, and the killed
// member restarted on its data directory catching up; plain and with
// CURVE (each member's and the client's key in an allowed-keys
// directory).
func TestKVProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zmptool and starts processes")
	}
	bin := buildZmptool(t)
	for _, curve := range []bool{false, true} {
		t.Run(fmt.Sprintf("curve=%v", curve), func(t *testing.T) {
			dir := t.TempDir()
			k := &kcProcs{t: t, bin: bin, dir: dir, curved: curve, procs: map[string]*proxyProc{}, args: map[string][]string{}, addrs: map[string]string{},
				env: append(proxyEnv(), "ZMP_REGISTRY="+filepath.Join(dir, "reg")), sec: func(string) []string { return nil }}
			if curve {
				keys := filepath.Join(dir, "keys")
				if err := os.Mkdir(keys, 0o700); err != nil {
					t.Fatal(err)
				}
				for _, name := range []string{"n1", "n2", "n3", "client"} {
					if code, _, stderr := runTool("keygen", "--dir", keys, name); code != exitOK {
						t.Fatalf("keygen %s: %s", name, stderr)
					}
				}
				k.sec = func(id string) []string {
					return []string{"--curve-secret", filepath.Join(keys, id+".key_secret"), "--allow-keys", keys}
				}
			}
			kcProcessFailover(t, k)
		})
	}
}

func kcProcessFailover(t *testing.T, k *kcProcs) {
	if l := k.start("n1", "--bind", freeTCPEndpoint(t), "--bootstrap"); l.Start != "bootstrap" {
		t.Fatalf("n1: %+v", l)
	}
	for _, id := range []string{"n2", "n3"} {
		if l := k.start(id, "--bind", freeTCPEndpoint(t), "--join", k.addrs["n1"]); l.Start != "join" {
			t.Fatalf("%s: %+v", id, l)
		}
		k.procs[id].expect(t, regexp.MustCompile(`"event":"joined"`))
	}
	for i := range 5 {
		k.mustRun("put", "--timeout", "30s", fmt.Sprint("k", i), fmt.Sprint(i))
	}

	old := k.leader()
	k.procs[old].cmd.Process.Signal(syscall.SIGKILL)
	<-k.procs[old].done
	for i := 5; i < 10; i++ {
		k.mustRun("put", "--timeout", "30s", fmt.Sprint("k", i), fmt.Sprint(i))
	}
	if now := k.leader(); now == old {
		t.Fatalf("%s still leads after it was killed", old)
	}

	// Restarted on its directory with the same command, it catches up.
	if l := k.start(old); l.Start != "restart" || l.Raft != k.addrs[old] {
		t.Fatalf("%s restarted: %+v", old, l)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, stdout, stderr := k.run("get", "--stale", "--at", k.addrs[old], "k9")
		if code == exitOK && stdout == "9" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not catch up: exit %d %q %s", old, code, stdout, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Every member, straight at its address, with failover from a dead
	// one: the linearizable read sees the last write.
	at := "tcp://127.0.0.1:1," + k.addrs["n1"] + "," + k.addrs["n2"] + "," + k.addrs["n3"]
	if got := k.mustRun("get", "--timeout", "30s", "--at", at, "k9"); got != "9" {
		t.Fatalf("get at every member: %q", got)
	}
	// Ctrl-C stops a member with exit code 0.
	code, rest := k.procs["n3"].interrupt(t)
	if code != 0 || !strings.Contains(rest, `"event":"stopped"`) {
		t.Fatalf("n3 after Ctrl-C: exit %d, %q; stderr %s", code, rest, k.procs["n3"].errb)
	}
}
