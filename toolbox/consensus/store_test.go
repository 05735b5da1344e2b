package consensus

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestStoreOptionsRejected(t *testing.T) {
	cases := []struct {
		name string
		opt  StoreOption
	}{
		{"backend zero", WithBackend(0)},
		{"backend unknown", WithBackend(BackendBolt + 1)},
		{"retain zero", WithSnapshotRetain(0)},
		{"log cache negative", WithLogCache(-1)},
		{"nil logger", WithStoreLogger(nil)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenStore(dir, tc.opt)
			if err == nil {
				s.Close()
				t.Fatal("OpenStore accepted an invalid option")
			}
			if !errors.Is(err, errStoreOption) {
				t.Fatalf("err = %v, want errStoreOption", err)
			}
		})
	}
}

func TestStoreRoundTripAndReopen(t *testing.T) {
	for _, b := range stBackends() {
		for _, cache := range []int{0, 16} {
			t.Run(b.String()+"/cache="+strconv.Itoa(cache), func(t *testing.T) {
				dir := t.TempDir()
				s, err := OpenStore(dir, WithBackend(b), WithLogCache(cache))
				if err != nil {
					t.Fatal(err)
				}
				if _, isCache := s.Log().(*raft.LogCache); isCache != (cache > 0) {
					t.Fatalf("log is %T with cache %d", s.Log(), cache)
				}
				var logs []*raft.Log
				for i := uint64(1); i <= 40; i++ {
					logs = append(logs, stLog(i))
				}
				stMust(t, s.Log().StoreLogs(logs))
				stMust(t, s.Stable().SetUint64([]byte(stTermKey), 7))
				stMust(t, s.Stable().Set([]byte("LastVoteCand"), []byte("n2")))
				stMust(t, s.Log().DeleteRange(1, 10))
				stMust(t, s.Close())
				stMust(t, s.Close()) // idempotent

				s = stOpen(t, dir, WithBackend(b), WithLogCache(cache))
				stCheckLogs(t, s, 11, 40)
				if v, err := s.Stable().GetUint64([]byte(stTermKey)); err != nil || v != 7 {
					t.Fatalf("term = %d, %v; want 7", v, err)
				}
				if v, err := s.Stable().Get([]byte("LastVoteCand")); err != nil || string(v) != "n2" {
					t.Fatalf("vote = %q, %v; want n2", v, err)
				}
				var l raft.Log
				if err := s.Log().GetLog(5, &l); !errors.Is(err, raft.ErrLogNotFound) {
					t.Fatalf("deleted log 5: err = %v, want ErrLogNotFound", err)
				}
			})
		}
	}
}

// stCheckLogs fails unless s holds exactly first..last, each with the
// payload stLog gives it.
func stCheckLogs(t *testing.T, s *Store, first, last uint64) {
	t.Helper()
	if got, err := s.Log().FirstIndex(); err != nil || got != first {
		t.Fatalf("FirstIndex = %d, %v; want %d", got, err, first)
	}
	if got, err := s.Log().LastIndex(); err != nil || got != last {
		t.Fatalf("LastIndex = %d, %v; want %d", got, err, last)
	}
	stCheckRange(t, s, first, last)
}

// stCheckRange fails unless every index in first..last reads back as
// stLog wrote it.
func stCheckRange(t *testing.T, s *Store, first, last uint64) {
	t.Helper()
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := s.Log().GetLog(i, &l); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		want := stLog(i)
		if l.Index != i || l.Term != want.Term || string(l.Data) != string(want.Data) {
			t.Fatalf("GetLog(%d) = index %d term %d data %x", i, l.Index, l.Term, l.Data[:8])
		}
	}
}

func TestStoreLayout(t *testing.T) {
	want := map[Backend][]string{
		BackendWAL:  {storeLockName, "snapshots", storeWALDir}, // ReadDir order
		BackendBolt: {storeLockName, storeBoltName, "snapshots"},
	}
	for _, b := range stBackends() {
		t.Run(b.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "a", "b") // created by OpenStore
			s := stOpen(t, dir, WithBackend(b))
			if s.Backend() != b || s.Dir() != dir {
				t.Fatalf("Backend, Dir = %v, %q", s.Backend(), s.Dir())
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if strings.Join(got, ",") != strings.Join(want[b], ",") {
				t.Fatalf("layout = %v, want %v", got, want[b])
			}
		})
	}
}

func TestStoreBackendMismatch(t *testing.T) {
	for _, b := range stBackends() {
		t.Run(b.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := stOpen(t, dir, WithBackend(b))
			stMust(t, s.Close())
			other := BackendWAL
			if b == BackendWAL {
				other = BackendBolt
			}
			s2, err := OpenStore(dir, WithBackend(other))
			if !errors.Is(err, ErrBackendMismatch) {
				if err == nil {
					s2.Close()
				}
				t.Fatalf("open with %v: err = %v, want ErrBackendMismatch", other, err)
			}
			// The failed open released the lock.
			stOpen(t, dir, WithBackend(b))
		})
	}
}

func TestStoreLockSameProcess(t *testing.T) {
	dir := t.TempDir()
	s := stOpen(t, dir)
	if s2, err := OpenStore(dir); !errors.Is(err, ErrStoreLocked) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("second open: err = %v, want ErrStoreLocked", err)
	}
	stMust(t, s.Close())
	stOpen(t, dir)
}

// TestStoreLockOtherProcess holds the directory in a child process: it is
// refused here while the child holds it, and free again once the child
// closes the store or is killed.
func TestStoreLockOtherProcess(t *testing.T) {
	for _, kill := range []bool{false, true} {
		name := "close"
		if kill {
			name = "kill"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := stHelperCmd(t, "holder", dir, DefaultBackend)
			stdin, err := cmd.StdinPipe()
			stMust(t, err)
			stdout, err := cmd.StdoutPipe()
			stMust(t, err)
			stMust(t, cmd.Start())
			lines := stReadLines(stdout)
			select {
			case l := <-lines:
				if l != "locked" {
					t.Fatalf("child said %q", l)
				}
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("child did not open the store")
			}
			if s, err := OpenStore(dir); !errors.Is(err, ErrStoreLocked) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("open while child holds it: err = %v, want ErrStoreLocked", err)
			}
			if kill {
				stMust(t, cmd.Process.Kill())
			} else {
				stMust(t, stdin.Close())
			}
			err = cmd.Wait()
			if !kill && err != nil {
				t.Fatalf("child: %v", err)
			}
			stOpen(t, dir)
		})
	}
}

func stMust(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
