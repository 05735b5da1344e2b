package core

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// testDirScheme is a registry scheme of the test binary: "testdir://DIR"
// is the directory registry in DIR, reached through an opener, so tests
// can see that an opener was used, in this process and in a child.
const testDirScheme = "testdir"

type testDirRegistry struct {
	*DirRegistry
	closed *atomic.Int32
}

func (r testDirRegistry) Address() string { return testDirScheme + "://" + r.Dir() }

func (r testDirRegistry) Close() error {
	if r.closed != nil {
		r.closed.Add(1)
	}
	return nil
}

func openTestDir(addr string, _ ...Option) (Registry, error) {
	d, err := NewDirRegistry(strings.TrimPrefix(addr, testDirScheme+"://"))
	return testDirRegistry{DirRegistry: d}, err
}

func TestParseRegistryUnknownScheme(t *testing.T) {
	for _, addr := range []string{"kv://tcp://127.0.0.1:1", "etcd://x", "testdir://" + t.TempDir()} {
		if _, err := ParseRegistry(addr); !errors.Is(err, ErrRegistryScheme) {
			t.Errorf("ParseRegistry(%q) = %v, want ErrRegistryScheme", addr, err)
		}
	}
	t.Setenv(EnvRegistry, "kv://a")
	if _, err := RegistryFromEnv(); !errors.Is(err, ErrRegistryScheme) {
		t.Errorf("RegistryFromEnv with kv:// = %v, want ErrRegistryScheme", err)
	}
	// Paths with "://" past a separator are still directories.
	dir := t.TempDir() + "/a://b"
	if r, err := ParseRegistry(dir); err != nil || r.(*DirRegistry).Dir() != filepath.Clean(dir) {
		t.Errorf("ParseRegistry(%q) = %v, %v", dir, r, err)
	}
}

func TestParseRegistryOpener(t *testing.T) {
	dir := t.TempDir()
	var got string
	var gotOpts int
	open := func(addr string, opts ...Option) (Registry, error) {
		got, gotOpts = addr, len(opts)
		return openTestDir(strings.Replace(addr, "mine://", testDirScheme+"://", 1))
	}
	r, err := ParseRegistry("mine://"+dir, WithRegistryOpener("mine", open), WithCallTimeout(1))
	if err != nil || got != "mine://"+dir || gotOpts != 2 || r.(testDirRegistry).Dir() != dir {
		t.Fatalf("ParseRegistry with opener: %v %v (opener saw %q, %d options)", r, err, got, gotOpts)
	}
	failing := func(string, ...Option) (Registry, error) { return nil, io.ErrUnexpectedEOF }
	if _, err := ParseRegistry("mine://x", WithRegistryOpener("mine", failing)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a failing opener's error is lost: %v", err)
	}
	nothing := func(string, ...Option) (Registry, error) { return nil, nil }
	if _, err := ParseRegistry("mine://x", WithRegistryOpener("mine", nothing)); err == nil {
		t.Fatal("an opener returning no registry and no error was accepted")
	}
	// Core's own schemes stay core's.
	if r, err := ParseRegistry("dir://"+dir, WithRegistryOpener("mine", failing)); err != nil || r.(*DirRegistry).Dir() != dir {
		t.Fatalf("dir:// with an opener: %v %v", r, err)
	}
}

func TestWithRegistryOpenerRejects(t *testing.T) {
	open := func(string, ...Option) (Registry, error) { return nil, nil }
	for _, s := range []string{"", "tcp", "ipc", "dir", "KV", "k v", "a/b"} {
		if _, err := buildConfig([]Option{WithRegistryOpener(s, open)}); err == nil {
			t.Errorf("WithRegistryOpener(%q) accepted", s)
		}
	}
	if _, err := buildConfig([]Option{WithRegistryOpener("kv", nil)}); err == nil {
		t.Error("WithRegistryOpener with a nil opener accepted")
	}
	if _, err := NewLauncher(WithNodeOptions(WithRegistryOpener("", open))); err == nil {
		t.Error("WithNodeOptions accepted a bad option")
	}
}

// A peer opens its registry through the opener and closes it.
func TestPeerRegistryOpener(t *testing.T) {
	dir := t.TempDir()
	var closed atomic.Int32
	open := func(addr string, _ ...Option) (Registry, error) {
		r, err := openTestDir(addr)
		return testDirRegistry{DirRegistry: r.(testDirRegistry).DirRegistry, closed: &closed}, err
	}
	e := newNodeEnv(t)
	p, err := NewPeer(e.ctx, "opened", WithRegistryAddress(testDirScheme+"://"+dir), WithRegistryOpener(testDirScheme, open))
	if err != nil {
		t.Fatal(err)
	}
	if a := p.Registry().(Addresser).Address(); a != testDirScheme+"://"+dir {
		t.Fatalf("peer's registry %q", a)
	}
	p.Close()
	if closed.Load() != 1 {
		t.Fatalf("the opened registry was closed %d times, want 1", closed.Load())
	}
	if _, err := NewPeer(e.ctx, "unopened", WithRegistryAddress("kv://x")); !errors.Is(err, ErrRegistryScheme) {
		t.Fatalf("NewPeer with an unknown scheme: %v", err)
	}
}

// A child process gets the opener through the launcher's
// WithNodeOptions and opens the registry its parent's Address names.
func TestNodeRegistryOpenerCrossProcess(t *testing.T) {
	eachMode(t, func(t *testing.T, mode nodeMode) {
		e := newNodeEnv(t)
		reg := testDirRegistry{DirRegistry: e.reg}
		n := e.started(mode, "calc", "opened", WithRegistry(reg))
		got, err := callNode[cfgReply](e, n, "cfg")
		if err != nil || got.Registry != reg.Address() {
			t.Fatalf("node's registry %q (%v), want %q", got.Registry, err, reg.Address())
		}
	})
}
