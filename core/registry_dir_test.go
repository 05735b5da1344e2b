package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// dirTestTTL is a lease long enough never to expire during a test.
const dirTestTTL = time.Hour

// dirTestClock is a settable clock for DirRegistry.now.
type dirTestClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *dirTestClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *dirTestClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestDirRegistry returns a registry in a fresh directory, driven by
// the returned clock.
func newTestDirRegistry(t *testing.T) (*DirRegistry, *dirTestClock) {
	t.Helper()
	r, err := NewDirRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	clk := &dirTestClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	r.now = clk.now
	return r, clk
}

// testHost returns this machine's host name.
func testHost(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	return h
}

// localNode returns an entry of this host owned by the test process.
func localNode(t *testing.T, name, id string) NodeInfo {
	t.Helper()
	return NodeInfo{Name: name, ID: id, PID: os.Getpid(), Host: testHost(t)}
}

func mustRegister(t *testing.T, r *DirRegistry, info NodeInfo) {
	t.Helper()
	if err := r.Register(context.Background(), info, dirTestTTL); err != nil {
		t.Fatalf("Register(%q, %q): %v", info.Name, info.ID, err)
	}
}

// nodeNames returns the names of r's live entries.
func nodeNames(t *testing.T, r *DirRegistry) []string {
	t.Helper()
	nodes, err := r.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return names
}

// readTestEntry returns the stored entry of name.
func readTestEntry(t *testing.T, r *DirRegistry, name string) dirEntry {
	t.Helper()
	file, err := dirFileName(name)
	if err != nil {
		t.Fatal(err)
	}
	e, ok, err := r.readEntry(file)
	if err != nil || !ok {
		t.Fatalf("entry %q: ok=%v err=%v", name, ok, err)
	}
	return e
}

// entryExists reports whether the file of name is in r's directory.
func entryExists(t *testing.T, r *DirRegistry, name string) bool {
	t.Helper()
	file, err := dirFileName(name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(r.Dir(), file))
	return err == nil
}

// pollUntil polls cond until it holds or a deadline passes.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func requireLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("process liveness is only checked on linux")
	}
}

func TestDefaultRegistryDir(t *testing.T) {
	fallback := filepath.Join(os.TempDir(), fmt.Sprintf("zmp-%d", os.Getuid()))
	tests := []struct {
		name, zmp, xdg, want string
	}{
		{"zmp wins", "/a/zmp", "/run/user/1", "/a/zmp"},
		{"xdg", "", "/run/user/1", "/run/user/1/zmp"},
		{"fallback", "", "", fallback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ZMP_RUNTIME_DIR", tt.zmp)
			t.Setenv("XDG_RUNTIME_DIR", tt.xdg)
			if got := DefaultRegistryDir(); got != tt.want {
				t.Errorf("DefaultRegistryDir() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewDirRegistryCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	r, err := NewDirRegistry(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", r.Dir(), dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %v, want 0700", fi.Mode().Perm())
	}
	if _, err := NewDirRegistry(""); err == nil {
		t.Error("NewDirRegistry(\"\") succeeded")
	}
}

func TestDirRegistryRoundTrip(t *testing.T) {
	r, clk := newTestDirRegistry(t)
	ctx := context.Background()
	info := localNode(t, "calc", "id-1")
	info.RPC, info.Pub = "ipc:///tmp/calc.rpc", "ipc:///tmp/calc.pub"
	info.Services, info.Topics = []string{"add", "mul"}, []string{"results"}
	info.Started = clk.now().Add(-time.Minute)
	if err := r.Register(ctx, info, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := Lookup(ctx, r, "calc")
	if err != nil {
		t.Fatal(err)
	}
	want := info
	want.Expires = clk.now().Add(time.Minute)
	if !got.Expires.Equal(want.Expires) || !got.Started.Equal(want.Started) {
		t.Errorf("times: got %v/%v, want %v/%v", got.Started, got.Expires, want.Started, want.Expires)
	}
	got.Expires, got.Started, want.Expires, want.Started = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lookup = %+v, want %+v", got, want)
	}
	if _, err := Lookup(ctx, r, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(nope) = %v, want ErrNotFound", err)
	}
}

func TestDirRegistryProviders(t *testing.T) {
	r, _ := newTestDirRegistry(t)
	for _, n := range []struct {
		name     string
		services []string
	}{{"c", []string{"add"}}, {"a", []string{"add", "mul"}}, {"b", []string{"mul"}}} {
		info := localNode(t, n.name, "id-"+n.name)
		info.Services = n.services
		mustRegister(t, r, info)
	}
	got, err := Providers(context.Background(), r, "add")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "c" {
		t.Errorf("Providers(add) = %+v, want a and c", got)
	}
}

func TestDirRegistryNodesSorted(t *testing.T) {
	r, _ := newTestDirRegistry(t)
	names := []string{"zeta", "alpha", "Mid", "beta/1", "beta 0", "beta"}
	for i, name := range names {
		mustRegister(t, r, localNode(t, name, strconv.Itoa(i)))
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if got := nodeNames(t, r); !slices.Equal(got, want) {
		t.Errorf("Nodes = %q, want %q", got, want)
	}
}

func TestDirRegistryNameTaken(t *testing.T) {
	r, _ := newTestDirRegistry(t)
	mustRegister(t, r, localNode(t, "svc", "owner"))
	other, err := NewDirRegistry(r.Dir()) // as another process would
	if err != nil {
		t.Fatal(err)
	}
	err = other.Register(context.Background(), localNode(t, "svc", "intruder"), dirTestTTL)
	if !errors.Is(err, ErrNameTaken) {
		t.Fatalf("Register by another id = %v, want ErrNameTaken", err)
	}
	if !strings.HasPrefix(err.Error(), "core: ") {
		t.Errorf("error %q lacks the core: prefix", err)
	}
	if id := readTestEntry(t, r, "svc").Node.ID; id != "owner" {
		t.Errorf("entry owned by %q after failed take-over", id)
	}
}

func TestDirRegistryRenew(t *testing.T) {
	r, clk := newTestDirRegistry(t)
	info := localNode(t, "svc", "id-1")
	if err := r.Register(context.Background(), info, time.Minute); err != nil {
		t.Fatal(err)
	}
	first := readTestEntry(t, r, "svc").Node.Expires
	clk.advance(30 * time.Second)
	info.Services = []string{"new"}
	if err := r.Register(context.Background(), info, time.Minute); err != nil {
		t.Fatalf("renew: %v", err)
	}
	e := readTestEntry(t, r, "svc")
	if !e.Node.Expires.After(first) || !e.Node.Expires.Equal(clk.now().Add(time.Minute)) {
		t.Errorf("Expires %v after renewal, was %v", e.Node.Expires, first)
	}
	if !e.Node.Provides("new") {
		t.Errorf("renewal did not replace the entry: %+v", e.Node)
	}
}

func TestDirRegistryExpired(t *testing.T) {
	r, clk := newTestDirRegistry(t)
	ctx := context.Background()
	if err := r.Register(ctx, localNode(t, "old", "id-1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, localNode(t, "keep", "id-2"))
	clk.advance(time.Minute) // Expires == now: dead
	if got := nodeNames(t, r); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("Nodes = %q, want only keep", got)
	}
	if entryExists(t, r, "old") {
		t.Error("Nodes left the expired entry's file behind")
	}
	mustRegister(t, r, localNode(t, "keep", "id-2"))
	clk.advance(2 * dirTestTTL)
	mustRegister(t, r, localNode(t, "keep", "id-3")) // replaces the expired id-2
	if id := readTestEntry(t, r, "keep").Node.ID; id != "id-3" {
		t.Errorf("entry owned by %q, want id-3", id)
	}
}

// deadPID returns the PID of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "0")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run sleep: %v", err)
	}
	return cmd.Process.Pid
}

func TestDirRegistryDeadProcess(t *testing.T) {
	requireLinux(t)
	r, _ := newTestDirRegistry(t)
	dead := localNode(t, "gone", "id-1")
	dead.PID = deadPID(t)
	mustRegister(t, r, dead)
	remote := dead // same PID, other host: only the lease counts
	remote.Name, remote.ID, remote.Host = "remote", "id-2", "elsewhere.invalid"
	mustRegister(t, r, remote)
	if got := nodeNames(t, r); !slices.Equal(got, []string{"remote"}) {
		t.Errorf("Nodes = %q, want only remote", got)
	}
	mustRegister(t, r, localNode(t, "gone", "id-3"))
	if got := nodeNames(t, r); !slices.Equal(got, []string{"gone", "remote"}) {
		t.Errorf("Nodes = %q after take-over, want gone and remote", got)
	}
}

func TestDirRegistryPIDStartMismatch(t *testing.T) {
	requireLinux(t)
	r, _ := newTestDirRegistry(t)
	mustRegister(t, r, localNode(t, "me", "id-1"))
	if got := nodeNames(t, r); !slices.Equal(got, []string{"me"}) {
		t.Fatalf("Nodes = %q, want me", got)
	}
	e := readTestEntry(t, r, "me")
	if e.PIDStart == 0 {
		t.Fatal("pid_start not recorded")
	}
	e.PIDStart++ // as if the PID had been reused by a later process
	file, _ := dirFileName("me")
	if err := r.writeEntry(file, e); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(t, r); len(got) != 0 {
		t.Errorf("Nodes = %q, want none", got)
	}
}

// procState returns the state letter of process pid, or 0.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	state, _, _ := dirParseStat(b)
	return state
}

func TestDirRegistryZombie(t *testing.T) {
	requireLinux(t)
	r, _ := newTestDirRegistry(t)
	cmd := exec.Command("sleep", "0")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	defer func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	pollUntil(t, "zombie", func() bool { return procState(pid) == 'Z' })
	info := localNode(t, "zombie", "id-1")
	info.PID = pid
	mustRegister(t, r, info)
	if got := nodeNames(t, r); len(got) != 0 {
		t.Errorf("Nodes = %q, want none", got)
	}
}

// TestDirRegistryOddCommName runs a process whose command name holds
// spaces and parentheses, which /proc/<pid>/stat does not escape.
func TestDirRegistryOddCommName(t *testing.T) {
	requireLinux(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	odd := filepath.Join(t.TempDir(), "a) Z (b")
	if err := copyFile(sleep, odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start copied sleep: %v", err)
	}
	r, _ := newTestDirRegistry(t)
	info := localNode(t, "odd", "id-1")
	info.PID = cmd.Process.Pid
	mustRegister(t, r, info)
	got := nodeNames(t, r)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !slices.Equal(got, []string{"odd"}) {
		t.Errorf("Nodes = %q while running, want odd", got)
	}
	if got := nodeNames(t, r); len(got) != 0 {
		t.Errorf("Nodes = %q after exit, want none", got)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o700)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

func TestDirParseStat(t *testing.T) {
	tail := " 1 1 1 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100"
	tests := []struct {
		name  string
		in    string
		state byte
		start uint64
		ok    bool
	}{
		{"plain", "42 (sleep) S" + tail, 'S', 987654, true},
		{"spaces and parens", "42 (a) Z (b c)) R" + tail, 'R', 987654, true},
		{"zombie", "42 (x) Z" + tail, 'Z', 987654, true},
		{"no paren", "42 sleep S" + tail, 0, 0, false},
		{"short", "42 (sleep) S 1 1", 0, 0, false},
		{"bad start", "42 (s) S 1 1 1 0 -1 4 1 0 0 0 0 0 0 0 20 0 1 0 x 1", 0, 0, false},
		{"empty", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, start, ok := dirParseStat([]byte(tt.in))
			if state != tt.state || start != tt.start || ok != tt.ok {
				t.Errorf("got %q %d %v, want %q %d %v", state, start, ok, tt.state, tt.start, tt.ok)
			}
		})
	}
}

func TestDirRegistryDeregister(t *testing.T) {
	tests := []struct {
		name, deregName, id string
		kept                bool
	}{
		{"owner", "svc", "owner", false},
		{"wrong id", "svc", "other", true},
		{"absent", "none", "owner", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestDirRegistry(t)
			mustRegister(t, r, localNode(t, "svc", "owner"))
			if err := r.Deregister(context.Background(), tt.deregName, tt.id); err != nil {
				t.Fatalf("Deregister: %v", err)
			}
			if kept := entryExists(t, r, "svc"); kept != tt.kept {
				t.Errorf("entry kept = %v, want %v", kept, tt.kept)
			}
		})
	}
}

func TestDirRegistryIgnoresGarbage(t *testing.T) {
	r, _ := newTestDirRegistry(t)
	mustRegister(t, r, localNode(t, "good", "id-1"))
	stray := localNode(t, "stray", "id-2")
	strayJSON := fmt.Sprintf(`{"node":{"name":"stray","id":"id-2","pid":%d,"host":%q,"expires":"2999-01-01T00:00:00Z"}}`, stray.PID, stray.Host)
	files := map[string]string{
		"junk.json":        "not json",
		"empty.json":       "",
		"object.json":      "{}",
		"misnamed.json":    strayJSON, // not stored under its name's file
		".tmp-12345":       strayJSON,
		"notes.txt":        "hello",
		"truncated.json":   `{"node":{"name":"trunc`,
		"wrong-type.json":  `[1,2,3]`,
		"null-values.json": `null`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(r.Dir(), name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(r.Dir(), "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got := nodeNames(t, r); !slices.Equal(got, []string{"good"}) {
		t.Errorf("Nodes = %q, want only good", got)
	}
	mustRegister(t, r, localNode(t, "junk", "id-3")) // overwrites the garbage
	if got := nodeNames(t, r); !slices.Equal(got, []string{"good", "junk"}) {
		t.Errorf("Nodes = %q, want good and junk", got)
	}
}

func TestDirRegistryConcurrentRegister(t *testing.T) {
	r, _ := newTestDirRegistry(t)
	const n = 8
	infos := make([]NodeInfo, n)
	for i := range infos {
		infos[i] = localNode(t, "contested", fmt.Sprint("id-", i))
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			reg, err := NewDirRegistry(r.Dir()) // one registry per "process"
			if err == nil {
				<-start
				err = reg.Register(context.Background(), infos[i], dirTestTTL)
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
		case !errors.Is(err, ErrNameTaken):
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Errorf("%d registrations won, want exactly 1", winners)
	}
}

func TestDirRegistryNameEncoding(t *testing.T) {
	long := strings.Repeat("é/", 63) + "x" // 253 bytes, escapes to 757
	names := []string{
		"a/b", "a b", "../escape", "a%2Fb", "a%b", "..", ".", ".lock", "ünï cødé",
		"tab\\sep", long, long[:len(long)-1] + "y",
	}
	r, _ := newTestDirRegistry(t)
	for i, name := range names {
		mustRegister(t, r, localNode(t, name, strconv.Itoa(i)))
	}
	for _, name := range names {
		n, err := Lookup(context.Background(), r, name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
		} else if n.Name != name {
			t.Errorf("Lookup(%q) = %q", name, n.Name)
		}
	}
	entries, err := os.ReadDir(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var files int
	for _, e := range entries {
		if !e.Type().IsRegular() || len(e.Name()) > dirMaxFileName {
			t.Errorf("unexpected directory entry %q", e.Name())
		}
		if strings.HasSuffix(e.Name(), dirEntrySuffix) {
			files++
		}
	}
	if files != len(names) {
		t.Errorf("%d entry files for %d names", files, len(names))
	}
}

func TestDirRegistryBadInput(t *testing.T) {
	tests := []struct {
		name    string
		info    NodeInfo
		ttl     time.Duration
		badName bool
	}{
		{"empty name", NodeInfo{ID: "x"}, time.Minute, true},
		{"control char", NodeInfo{Name: "a\nb", ID: "x"}, time.Minute, true},
		{"nul", NodeInfo{Name: "a\x00b", ID: "x"}, time.Minute, true},
		{"empty id", NodeInfo{Name: "a"}, time.Minute, false},
		{"zero ttl", NodeInfo{Name: "a", ID: "x"}, 0, false},
	}
	r, _ := newTestDirRegistry(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Register(context.Background(), tt.info, tt.ttl)
			if err == nil || errors.Is(err, ErrBadName) != tt.badName || !strings.HasPrefix(err.Error(), "core: ") {
				t.Errorf("Register = %v, want error (ErrBadName: %v)", err, tt.badName)
			}
		})
	}
	if err := r.Deregister(context.Background(), "", "x"); !errors.Is(err, ErrBadName) {
		t.Errorf("Deregister(\"\") = %v, want ErrBadName", err)
	}
}

func TestDirRegistryContextDone(t *testing.T) {
	r, _ := newTestDirRegistry(t)
	mustRegister(t, r, localNode(t, "svc", "id-1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Register(ctx, localNode(t, "new", "id-2"), time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Register = %v", err)
	}
	if err := r.Deregister(ctx, "svc", "id-1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Deregister = %v", err)
	}
	if _, err := r.Nodes(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Nodes = %v", err)
	}
	if got := nodeNames(t, r); !slices.Equal(got, []string{"svc"}) {
		t.Errorf("Nodes = %q after cancelled calls, want svc", got)
	}
}

func TestDirRegistryLockWaitHonoursContext(t *testing.T) {
	r, _ := newTestDirRegistry(t)
	unlock, ok, err := dirTryLock(r.lockPath())
	if err != nil || !ok {
		t.Fatalf("dirTryLock: ok=%v err=%v", ok, err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = r.Register(ctx, localNode(t, "svc", "id-1"), time.Minute)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Register while locked = %v, want DeadlineExceeded", err)
	}
	if got := nodeNames(t, r); len(got) != 0 { // Nodes does not need the lock
		t.Errorf("Nodes = %q", got)
	}
}

// Environment of TestDirHelperProcess.
const (
	helperDirEnv  = "ZMP_TEST_DIR_HELPER_DIR"
	helperNameEnv = "ZMP_TEST_DIR_HELPER_NAME"
	helperIDEnv   = "ZMP_TEST_DIR_HELPER_ID"
	helperPIDEnv  = "ZMP_TEST_DIR_HELPER_PID" // 0: the helper's own
)

// TestDirHelperProcess is not a test: run by TestDirRegistryAcrossProcesses
// in a child process, it registers one entry and prints the outcome.
func TestDirHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		return
	}
	pid, _ := strconv.Atoi(os.Getenv(helperPIDEnv))
	if pid == 0 {
		pid = os.Getpid()
	}
	r, err := NewDirRegistry(dir)
	if err == nil {
		info := NodeInfo{Name: os.Getenv(helperNameEnv), ID: os.Getenv(helperIDEnv), PID: pid, Host: testHost(t)}
		err = r.Register(context.Background(), info, dirTestTTL)
	}
	switch {
	case err == nil:
		fmt.Println("result=ok")
	case errors.Is(err, ErrNameTaken):
		fmt.Println("result=taken")
	default:
		fmt.Println("result=error", err)
	}
	os.Exit(0)
}

// helperCmd returns a child process that registers name as id with pid.
func helperCmd(dir, name, id string, pid int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDirHelperProcess$")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperNameEnv+"="+name,
		helperIDEnv+"="+id, helperPIDEnv+"="+strconv.Itoa(pid))
	return cmd
}

func TestDirRegistryAcrossProcesses(t *testing.T) {
	requireLinux(t)
	r, _ := newTestDirRegistry(t)
	r.now = time.Now // children use the real clock
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]strings.Builder, n)
	for i := range cmds {
		cmds[i] = helperCmd(r.Dir(), "shared", fmt.Sprint("child-", i), os.Getpid())
		cmds[i].Stdout = &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	winners := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		out := outs[i].String()
		switch {
		case strings.Contains(out, "result=ok"):
			winners++
		case !strings.Contains(out, "result=taken"):
			t.Errorf("child %d: %q", i, out)
		}
	}
	if winners != 1 {
		t.Errorf("%d child registrations won, want exactly 1", winners)
	}
	out, err := helperCmd(r.Dir(), "solo", "child", 0).Output()
	if err != nil || !strings.Contains(string(out), "result=ok") {
		t.Fatalf("child: %q %v", out, err)
	}
	if _, err := Lookup(context.Background(), r, "solo"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of an exited child's entry = %v, want ErrNotFound", err)
	}
	mustRegister(t, r, localNode(t, "solo", "parent"))
}
