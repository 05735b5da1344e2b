package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKVUsage(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZMP_REGISTRY", filepath.Join(dir, "reg")) // never the user's registry
	data := filepath.Join(dir, "data")
	serve := func(extra ...string) []string {
		return append([]string{"kv", "serve", "--id", "n1", "--data", data}, extra...)
	}
	checkRunCases(t, []runCase{
		{"help", []string{"kv", "--help"}, exitOK, "members", ""},
		{"no subcommand shows help", []string{"kv"}, exitOK, "transfer", ""},
		{"serve help", []string{"kv", "serve", "--help"}, exitOK, "ZMP_KV_JOIN", ""},
		{"unknown subcommand", []string{"kv", "fetch"}, exitUsage, "", `unknown kv command "fetch"`},
		{"serve without flags", []string{"kv", "serve"}, exitUsage, "", "kv serve needs --id, --bind and --data"},
		{"serve on port 0", serve("--bind", "tcp://127.0.0.1:0", "--bootstrap"), exitUsage, "", "needs a fixed port"},
		{"serve on a wildcard", serve("--bind", "tcp://*:7001", "--bootstrap"), exitUsage, "", "not a wildcard"},
		{"serve on udp", serve("--bind", "udp://127.0.0.1:7001", "--bootstrap"), exitUsage, "", "is not tcp://HOST:PORT or ipc://PATH"},
		{"bootstrap and join", serve("--bind", "tcp://127.0.0.1:7001", "--bootstrap", "--join", "tcp://127.0.0.1:7002"), exitUsage, "", "not both"},
		{"bad join address", serve("--bind", "tcp://127.0.0.1:7001", "--join", "7002"), exitUsage, "", "--join"},
		{"bad raft log level", serve("--bind", "tcp://127.0.0.1:7001", "--bootstrap", "--raft-log", "loud"), exitUsage, "", "--raft-log must be"},
		{"serve an empty dir without bootstrap or join", serve("--bind", "tcp://127.0.0.1:7001"), exitUsage, "", "holds no store: start the first member with --bootstrap"},
		{"serve with an argument", append(serve("--bind", "tcp://127.0.0.1:7001"), "x"), exitUsage, "", "kv serve takes no arguments"},
		{"get without key", []string{"kv", "get"}, exitUsage, "", "kv get takes 1 argument, got 0"},
		{"put without key", []string{"kv", "put"}, exitUsage, "", "kv put takes 1 or 2 arguments"},
		{"put with ttl and lease", []string{"kv", "put", "k", "v", "--ttl", "1s", "--lease", "3"}, exitUsage, "", "not both"},
		{"put with a negative ttl", []string{"kv", "put", "k", "v", "--ttl", "-1s"}, exitUsage, "", "--ttl cannot be negative"},
		{"cas with a bad revision", []string{"kv", "cas", "k", "x", "v"}, exitUsage, "", "MODREV must be a revision"},
		{"list with a negative limit", []string{"kv", "list", "--limit", "-1"}, exitUsage, "", "--limit cannot be negative"},
		{"list with two prefixes", []string{"kv", "list", "a", "b"}, exitUsage, "", "kv list takes 0 or 1 arguments"},
		{"watch with a negative count", []string{"kv", "watch", "--count", "-1"}, exitUsage, "", "--count cannot be negative"},
		{"members with an argument", []string{"kv", "members", "x"}, exitUsage, "", "kv members takes no arguments"},
		{"remove without id", []string{"kv", "remove"}, exitUsage, "", "kv remove takes 1 argument"},
		{"bad --at", []string{"kv", "get", "k", "--at", "localhost:1"}, exitUsage, "", "--at"},
		{"empty key", []string{"kv", "get", ""}, exitUsage, "", "KEY must be 1 to 4096 bytes, got 0"},
		{"get without a store", []string{"kv", "get", "k", "--timeout", "2s"}, exitFailure, "", `no node of store "kv" in the registry`},
		{"get at a dead address", []string{"kv", "get", "k", "--timeout", "2s", "--at", "tcp://127.0.0.1:1"}, exitFailure, "", "kv get:"},
	})
}

// kcServe runs `zmptool kv serve ARGS...` in this process until the
// returned stop is called; stop returns the command's error.
func kcServe(t *testing.T, args ...string) (out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- newApp(nil, out, io.Discard).RunContext(ctx, append([]string{"zmptool", "kv", "serve"}, args...))
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return out, stop
}

// kcWaitMatch waits up to a minute for out to match re, and returns the
// submatches.
func kcWaitMatch(t *testing.T, out *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("output never matched %v: %q", re, out.String())
	return nil
}

// kcMustRun runs zmptool in this process and fails the test unless it
// exits 0; it returns stdout.
func kcMustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runTool(args...)
	if code != exitOK {
		t.Fatalf("zmptool %q: exit %d\nstdout: %s\nstderr: %s", args, code, stdout, stderr)
	}
	return stdout
}

// kcMembers returns the store's members, and the leader's id.
func kcMembers(t *testing.T, args ...string) (ms []kvMember, leader string) {
	t.Helper()
	out := kcMustRun(t, append([]string{"kv", "members", "--json", "--timeout", "30s"}, args...)...)
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatalf("members --json: %v\n%s", err, out)
	}
	for _, m := range ms {
		if m.Leader {
			leader = m.ID
		}
	}
	return ms, leader
}

var kcFirstLine = regexp.MustCompile(`^kv (\S+) serving kv on node kv-\S+ raft=(\S+) pub=tcp://\S+ data=\S+ start=(\w+)\n`)

// TestKVCommands: three `kv serve` in this process (one bootstraps, two
// join it), and every client command against them, through the
// registry and at raft addresses.
func TestKVCommands(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZMP_REGISTRY", filepath.Join(dir, "reg"))
	addrs := map[string]string{}
	outs := map[string]*syncBuffer{}
	stops := map[string]func() error{}
	args := func(id string, extra ...string) []string {
		return append([]string{"--id", id, "--bind", freeTCPEndpoint(t), "--data", filepath.Join(dir, id)}, extra...)
	}
	n1 := args("n1", "--bootstrap")
	outs["n1"], stops["n1"] = kcServe(t, n1...)
	m := kcWaitMatch(t, outs["n1"], kcFirstLine)
	if m[1] != "n1" || m[3] != "bootstrap" {
		t.Fatalf("first line of n1: %q", m[0])
	}
	addrs["n1"] = m[2]
	n2 := args("n2", "--join", addrs["n1"])
	for id, a := range map[string][]string{"n2": n2, "n3": args("n3", "--join", addrs["n1"])} {
		outs[id], stops[id] = kcServe(t, a...)
		m := kcWaitMatch(t, outs[id], kcFirstLine)
		if m[1] != id || m[3] != "join" {
			t.Fatalf("first line of %s: %q", id, m[0])
		}
		addrs[id] = m[2]
		kcWaitMatch(t, outs[id], regexp.MustCompile(`\njoined through `+regexp.QuoteMeta(addrs["n1"])+`\n`))
	}
	ms, leader := kcMembers(t)
	if len(ms) != 3 || leader == "" {
		t.Fatalf("members %+v", ms)
	}
	for _, m := range ms {
		if m.Address != addrs[m.ID] || !m.Voter {
			t.Fatalf("member %+v, want address %s", m, addrs[m.ID])
		}
	}

	rev := regexp.MustCompile(`^revision (\d+)\n$`)
	put := kcMustRun(t, "kv", "put", "greeting", "hello")
	if !rev.MatchString(put) {
		t.Fatalf("put: %q", put)
	}
	modRev := rev.FindStringSubmatch(put)[1]
	checkRunCases(t, []runCase{
		{"get prints the raw value", []string{"kv", "get", "greeting"}, exitOK, "hello", ""},
		{"get --json", []string{"kv", "get", "--json", "greeting"}, exitOK, `{"key":"greeting","value":"hello","create_rev":` + modRev + `,"mod_rev":` + modRev + `,"version":1}`, ""},
		{"missing key", []string{"kv", "get", "nope"}, exitFailure, "", `zmptool: kv get: no key "nope"`},
		{"cas that does not apply", []string{"kv", "cas", "greeting", "0", "x"}, exitFailure, `"mod_rev":` + modRev, `kv cas: not applied: "greeting" has mod_rev ` + modRev + `, not 0`},
		{"cas on an absent key", []string{"kv", "cas", "--json", "nope", "5", "x"}, exitFailure, `{"applied":false,"current":null,"key":"nope"}`, "there is no key"},
		{"cas", []string{"kv", "cas", "greeting", modRev, "bonjour"}, exitOK, "revision ", ""},
		{"put with a ttl", []string{"kv", "put", "--ttl", "1h", "tmp/a", "1"}, exitOK, " lease ", ""},
		{"put json", []string{"kv", "put", "--json", "tmp/b", "2"}, exitOK, `"key":"tmp/b","revision":`, ""},
		{"list", []string{"kv", "list", "tmp/"}, exitOK, "KEY    MOD_REV  VALUE\ntmp/a  ", ""},
		{"list nothing", []string{"kv", "list", "none/"}, exitOK, "", "no keys (revision "},
		{"del", []string{"kv", "del", "tmp/b"}, exitOK, "deleted tmp/b at revision ", ""},
		{"del again", []string{"kv", "del", "tmp/b"}, exitFailure, "", `kv del: no key "tmp/b"`},
		{"remove a non-member", []string{"kv", "remove", "nobody"}, exitFailure, "", "kv remove: consensus: not a member"},
		{"at every member, a dead address first", []string{"kv", "get", "greeting", "--at", "tcp://127.0.0.1:1," + addrs["n1"] + "," + addrs["n2"]}, exitOK, "bonjour", ""},
		{"other store name", []string{"kv", "get", "greeting", "--name", "other", "--timeout", "2s"}, exitFailure, "", `no node of store "other"`},
	})
	var list struct {
		Rev     uint64    `json:"revision"`
		Entries []kvEntry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(kcMustRun(t, "kv", "list", "--json", "--stale")), &list); err != nil || len(list.Entries) != 2 ||
		list.Entries[0].Key != "greeting" || *list.Entries[0].Value != "bonjour" || list.Entries[1].Lease == 0 || list.Rev == 0 {
		t.Fatalf("list --json: %+v, %v", list, err)
	}

	// From stdin.
	var out strings.Builder
	app := newApp(nil, &out, io.Discard)
	app.Reader = strings.NewReader("from\nstdin")
	if err := app.Run([]string{"zmptool", "kv", "put", "in", "-"}); err != nil || !rev.MatchString(out.String()) {
		t.Fatalf("put from stdin: %q, %v", out.String(), err)
	}
	if got := kcMustRun(t, "kv", "get", "in"); got != "from\nstdin" {
		t.Fatalf("value from stdin: %q", got)
	}

	// watch: the changes from a revision on.
	w := kcMustRun(t, "kv", "watch", "--count", "2", "--from", modRev, "greeting")
	if !regexp.MustCompile(`^put greeting = "hello" \(rev ` + modRev + `\)\nput greeting = "bonjour" \(rev \d+\)\n$`).MatchString(w) {
		t.Fatalf("watch: %q", w)
	}

	// Leadership to a named member, then to any.
	target := "n3"
	if leader == "n3" {
		target = "n2"
	}
	if got := kcMustRun(t, "kv", "transfer", target, "--timeout", "30s"); got != "leader "+target+" at "+addrs[target]+"\n" {
		t.Fatalf("transfer %s: %q", target, got)
	}
	if _, l := kcMembers(t); l != target {
		t.Fatalf("leader after the transfer: %s, want %s", l, target)
	}
	var moved struct{ Leader, Address string }
	if err := json.Unmarshal([]byte(kcMustRun(t, "kv", "transfer", "--json", "--timeout", "30s")), &moved); err != nil || moved.Leader == target || moved.Address != addrs[moved.Leader] {
		t.Fatalf("transfer to any: %+v %v", moved, err)
	}
	kcWaitMatch(t, outs[moved.Leader], regexp.MustCompile(`\n(leader `+moved.Leader+` at )`))

	// A member stops (Ctrl-C) and restarts on its directory, with the
	// same command: it neither bootstraps nor joins again.
	if err := stops["n2"](); err != nil {
		t.Fatalf("n2 stopped with %v", err)
	}
	if !strings.HasSuffix(outs["n2"].String(), "\nstopped\n") {
		t.Fatalf("n2 printed %q", outs["n2"].String())
	}
	kcMustRun(t, "kv", "put", "--timeout", "30s", "while-n2-was-down", "yes")
	restarted, _ := kcServe(t, n2...)
	m = kcWaitMatch(t, restarted, kcFirstLine)
	if m[3] != "restart" || m[2] != addrs["n2"] {
		t.Fatalf("n2 restarted with %q", m[0])
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, stdout, _ := runTool("kv", "get", "--stale", "--at", addrs["n2"], "while-n2-was-down")
		if code == exitOK && stdout == "yes" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("n2 did not catch up: %d %q", code, stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(restarted.String(), "joined") {
		t.Fatalf("n2 joined again: %q", restarted.String())
	}
	if ms, _ := kcMembers(t); len(ms) != 3 {
		t.Fatalf("members after n2's restart: %+v", ms)
	}
}
