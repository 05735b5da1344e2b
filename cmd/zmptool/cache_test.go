package main

import (
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestCacheUsage(t *testing.T) {
	t.Setenv("ZMP_REGISTRY", t.TempDir()) // never the user's registry
	checkRunCases(t, []runCase{
		{"help", []string{"cache", "--help"}, exitOK, "serve", ""},
		{"no subcommand shows help", []string{"cache"}, exitOK, "stats", ""},
		{"serve help", []string{"cache", "serve", "--help"}, exitOK, "ZMP_CACHE_MAX_BYTES", ""},
		{"set help", []string{"cache", "set", "--help"}, exitOK, "--ttl", ""},
		{"unknown subcommand", []string{"cache", "fetch"}, exitUsage, "", `unknown cache command "fetch"`},
		{"bad policy", []string{"cache", "serve", "--policy", "fifo"}, exitUsage, "", "--policy must be lru, 2q or arc"},
		{"zero max bytes", []string{"cache", "serve", "--max-bytes", "0"}, exitUsage, "", "server max bytes 0"},
		{"zero max entries", []string{"cache", "serve", "--max-entries", "0"}, exitUsage, "", "server max entries 0"},
		{"bad transport", []string{"cache", "serve", "--transport", "udp"}, exitUsage, "", "tcp or ipc"},
		{"bad heartbeat", []string{"cache", "serve", "--heartbeat", "often"}, exitUsage, "", "heartbeat"},
		{"serve with an argument", []string{"cache", "serve", "x"}, exitUsage, "", "cache serve takes no arguments"},
		{"get without key", []string{"cache", "get"}, exitUsage, "", "cache get takes 1 argument, got 0 (usage: zmptool cache get [command options] KEY)"},
		{"set without key", []string{"cache", "set"}, exitUsage, "", "cache set takes 1 or 2 arguments"},
		{"set negative ttl", []string{"cache", "set", "k", "v", "--ttl", "-1s"}, exitUsage, "", "--ttl cannot be negative"},
		{"del two keys", []string{"cache", "del", "a", "b"}, exitUsage, "", "cache del takes 1 argument, got 2"},
		{"stats with an argument", []string{"cache", "stats", "x"}, exitUsage, "", "cache stats takes no arguments"},
		{"curve without keys", []string{"cache", "get", "k", "--curve-secret", "x"}, exitUsage, "", "--allow-keys"},
		{"get without a server", []string{"cache", "get", "k", "--timeout", "2s"}, exitFailure, "", `no cache server "cache" is running`},
	})
}

// runCacheServe runs `zmptool cache serve ARGS...` in this process until
// the returned stop is called; stop returns the command's error.
func runCacheServe(t *testing.T, args ...string) (out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- newApp(nil, out, io.Discard).RunContext(ctx, append([]string{"zmptool", "cache", "serve"}, args...))
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

func TestCacheServeAndOps(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			dir := shortDir(t)
			t.Setenv("ZMP_REGISTRY", dir+"/reg")
			t.Setenv("ZMP_RUNTIME_DIR", dir)
			out, stop := runCacheServe(t, "--name", "c1", "--transport", transport, "--max-entries", "100")
			waitMatch(t, out, regexp.MustCompile(`(cache c1 serving on node c1 rpc=`+transport+`://\S+ pub=`+transport+`://\S+ epoch=\d+)`))

			steps := []runCase{
				{"set", []string{"cache", "set", "--name", "c1", "greeting", "hello world"}, exitOK, "version 1\n", ""},
				{"get prints the raw value", []string{"cache", "get", "greeting", "--name", "c1"}, exitOK, "hello world", ""},
				{"set with ttl, json", []string{"cache", "set", "--name", "c1", "--ttl", "1h", "--json", "other", "x"}, exitOK, `{"key":"other","version":2}`, ""},
				{"get --json", []string{"cache", "get", "--name", "c1", "--json", "greeting"}, exitOK, `{"key":"greeting","version":1,"value":"hello world"}`, ""},
				{"missing key", []string{"cache", "get", "--name", "c1", "nope"}, exitFailure, "", `zmptool: cache get: no key "nope" in cache c1`},
				{"del", []string{"cache", "del", "--name", "c1", "other"}, exitOK, "deleted other", ""},
				{"del again", []string{"cache", "del", "--name", "c1", "other"}, exitFailure, "", `cache del: no key "other" in cache c1`},
				{"stats table", []string{"cache", "stats", "--name", "c1"}, exitOK, "entries          1 / 100", ""},
				{"wrong server name", []string{"cache", "get", "--name", "c2", "--timeout", "2s", "greeting"}, exitFailure, "", `no cache server "c2" is running`},
			}
			for _, s := range steps {
				code, stdout, stderr := runTool(s.args...)
				if code != s.code || !strings.Contains(stdout, s.stdout) || !strings.Contains(stderr, s.stderr) {
					t.Fatalf("%s: exit %d (want %d), stdout %q (want %q), stderr %q (want %q)", s.name, code, s.code, stdout, s.stdout, stderr, s.stderr)
				}
			}
			if _, stdout, _ := runTool("cache", "get", "--name", "c1", "greeting"); stdout != "hello world" {
				t.Fatalf("get printed %q, want the value alone", stdout)
			}
			// zmptool info shows the server's counters among the node's.
			if code, stdout, stderr := runTool("info", "c1"); code != exitOK || !regexp.MustCompile(`(?m)^cache\.server\.c1 +.*entries=1 .*sets=2`).MatchString(stdout) {
				t.Fatalf("info c1: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
			}
			code, stdout, stderr := runTool("cache", "stats", "--name", "c1", "--json")
			var st map[string]any
			if err := json.Unmarshal([]byte(stdout), &st); err != nil || code != exitOK {
				t.Fatalf("stats --json: exit %d, %v: %s %s", code, err, stdout, stderr)
			}
			if st["entries"] != 1.0 || st["sets"] != 2.0 || st["deletes"] != 1.0 || st["misses"] != 1.0 || st["seq"] != 3.0 || st["max_entries"] != 100.0 {
				t.Fatalf("stats %v", st)
			}
			if err := stop(); err != nil {
				t.Fatalf("serve returned %v", err)
			}
			if !regexp.MustCompile(`stopped: \S+  entries=1 bytes=\d+ seq=3 gets=4 hits=3 misses=1 sets=2 deletes=1`).MatchString(out.String()) {
				t.Fatalf("no final counters:\n%s", out)
			}
		})
	}
}

// shortDir returns a temporary directory with a path short enough for
// Unix socket files.
func shortDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 60 {
		t.Skipf("temp dir %q too long for socket paths", dir)
	}
	return dir
}

// `zmptool cache serve` as a process: Ctrl-C stops it with exit code 0,
// and it takes its flags from ZMP_ variables.
func TestCacheServeProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zmptool")
	}
	bin := buildZmptool(t)
	reg := t.TempDir()
	t.Setenv("ZMP_REGISTRY", reg)
	p := startCacheProc(t, bin, reg, "ZMP_CACHE_NAME=procache", "ZMP_JSON=true", "ZMP_CACHE_POLICY=arc")
	m := p.expect(t, regexp.MustCompile(`^(\{"name":"procache".*)`))
	var first cacheListening
	if err := json.Unmarshal([]byte(m[1]), &first); err != nil || first.Epoch == 0 || first.Node != "procache" {
		t.Fatalf("first line %q: %v", m[1], err)
	}
	if code, stdout, stderr := runTool("cache", "set", "--name", "procache", "k", "v"); code != exitOK {
		t.Fatalf("set: exit %d %s %s", code, stdout, stderr)
	}
	if code, stdout, stderr := runTool("cache", "stats", "--name", "procache", "--json"); code != exitOK || !strings.Contains(stdout, `"policy": "arc"`) {
		t.Fatalf("stats: exit %d %s %s", code, stdout, stderr)
	}
	code, rest := p.interrupt(t)
	if code != 0 || !strings.Contains(rest, `"sets":1`) {
		t.Fatalf("after Ctrl-C: exit %d, output %q, stderr %s", code, rest, p.errb)
	}
}

// startCacheProc starts `zmptool cache serve` with the environment
// without ZMP_ variables, plus registry reg and env.
func startCacheProc(t *testing.T, bin, reg string, env ...string) *proxyProc {
	t.Helper()
	cmd := exec.Command(bin, "cache", "serve")
	cmd.Env = append(append(proxyEnv(), "ZMP_REGISTRY="+reg), env...)
	return startToolProc(t, cmd)
}
