package cache

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// menv is a test's zmp system: a directory registry and a transport.
type menv struct {
	t   testing.TB
	tr  core.Transport
	dir string // registry directory
	rt  string // runtime directory for ipc sockets
	reg core.Registry
}

var memoTestTransports = []core.Transport{core.TCP, core.IPC}

func memoTransports(t *testing.T, f func(t *testing.T, e *menv)) {
	for _, tr := range memoTestTransports {
		t.Run(string(tr), func(t *testing.T) { f(t, newMenv(t, tr)) })
	}
}

func newMenv(t testing.TB, tr core.Transport) *menv {
	t.Helper()
	e := &menv{t: t, tr: tr, dir: t.TempDir()}
	reg, err := core.NewDirRegistry(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	if tr == core.IPC {
		d, err := os.MkdirTemp("", "zc")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		e.rt = d
	}
	return e
}

func (e *menv) opts(extra ...core.Option) []core.Option {
	o := []core.Option{core.WithRegistry(e.reg), core.WithTransport(e.tr), core.WithDiscoveryInterval(25 * time.Millisecond)}
	if e.rt != "" {
		o = append(o, core.WithRuntimeDir(e.rt))
	}
	return append(o, extra...)
}

func (e *menv) peer(name string, extra ...core.Option) *core.Peer {
	e.t.Helper()
	p, err := core.NewPeer(e.ctx(10*time.Second), name, e.opts(extra...)...)
	if err != nil {
		e.t.Fatalf("NewPeer(%q): %v", name, err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

func (e *menv) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.t.Cleanup(cancel)
	return ctx
}
