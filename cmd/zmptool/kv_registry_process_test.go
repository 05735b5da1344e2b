package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKVRegistryProcesses: ordinary nodes, each a process of its own,
// register in and discover each other through the replicated registry
// of three `zmptool kv serve` processes (ZMP_REGISTRY=kv://...), while
// each store member in turn is SIGKILLed: a node that starts while a
// member is down registers, and new processes find it and the older
// ones.
func TestKVRegistryProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zmptool and starts processes")
	}
	bin := buildZmptool(t)
	dir := t.TempDir()
	k := &kcProcs{t: t, bin: bin, dir: dir, procs: map[string]*proxyProc{}, args: map[string][]string{}, addrs: map[string]string{},
		env: append(proxyEnv(), "ZMP_REGISTRY="+filepath.Join(dir, "reg")), sec: func(string) []string { return nil }}
	k.start("n1", "--bind", freeTCPEndpoint(t), "--bootstrap")
	for _, id := range []string{"n2", "n3"} {
		k.start(id, "--bind", freeTCPEndpoint(t), "--join", k.addrs["n1"])
		k.procs[id].expect(t, regexp.MustCompile(`"event":"joined"`))
	}
	reg := "kv://" + k.addrs["n1"] + "," + k.addrs["n2"] + "," + k.addrs["n3"]
	r := &krOrdinary{t: t, bin: bin, env: append(proxyEnv(), "ZMP_REGISTRY="+reg)}

	r.serve("c0")
	r.check("c0", "first")
	for i, id := range []string{"n1", "n2", "n3"} {
		k.procs[id].cmd.Process.Signal(syscall.SIGKILL)
		<-k.procs[id].done
		name := "c-" + id
		r.serve(name) // registers while a member is down
		r.check(name, fmt.Sprint("while ", id, " is down"))
		r.check("c0", fmt.Sprint("c0 while ", id, " is down"))
		if out := r.mustRun("list", "nodes"); !strings.Contains(out, name) || !strings.Contains(out, "c0") {
			t.Fatalf("zmptool list nodes while %s is down:\n%s", id, out)
		}
		// Back on its directory, and caught up before the next one goes.
		k.start(id)
		key := fmt.Sprint("after-", i)
		k.mustRun("put", "--timeout", "30s", key, "x")
		krWait(t, fmt.Sprintf("%s caught up", id), func() bool {
			code, out, _ := k.run("get", "--stale", "--at", k.addrs[id], key)
			return code == exitOK && out == "x"
		})
	}
}

// krOrdinary runs ordinary zmptool nodes and commands with a registry.
type krOrdinary struct {
	t   *testing.T
	bin string
	env []string
}

// serve starts a cache server node named name (killed at cleanup).
func (r *krOrdinary) serve(name string) {
	r.t.Helper()
	cmd := exec.Command(r.bin, "cache", "serve", "--json", "--name", name)
	cmd.Env = r.env
	p := startToolProc(r.t, cmd)
	t0 := time.Now()
	p.expect(r.t, regexp.MustCompile(`^\{"name":"`+name+`"`))
	r.t.Logf("serve %s: %v", name, time.Since(t0))
}

// check sets and gets a key on cache server name, each from a new
// process that finds it through the registry.
func (r *krOrdinary) check(name, value string) {
	r.t.Helper()
	t0 := time.Now()
	r.mustRun("cache", "set", "--timeout", "30s", "--name", name, "k", value)
	r.t.Logf("set on %s: %v", name, time.Since(t0))
	if got := r.mustRun("cache", "get", "--timeout", "30s", "--name", name, "k"); got != value {
		r.t.Fatalf("cache get on %s: %q, want %q", name, got, value)
	}
}

func (r *krOrdinary) mustRun(args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.bin, args...)
	cmd.Env = r.env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		r.t.Fatalf("zmptool %q: %v\nstdout: %s\nstderr: %s", args, err, out.String(), errb.String())
	}
	return out.String()
}

func krWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
