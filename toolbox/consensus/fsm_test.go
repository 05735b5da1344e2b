package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// applier feeds commands to a state as consecutive log entries.
type applier struct {
	s   *state
	idx uint64
	now int64
}

func newApplier(hist int) *applier { return &applier{s: newState(hist), now: int64(time.Hour)} }

func (a *applier) do(c command) result {
	a.idx++
	if c.now == 0 {
		c.now = a.now
	}
	// Every command goes through its encoding, as in the log.
	dec, err := decodeCommand(appendCommand(nil, c))
	if err != nil {
		panic(err)
	}
	return a.s.apply(a.idx, dec)
}

func TestFSMKeys(t *testing.T) {
	a := newApplier(100)
	r := a.do(command{op: opPut, key: "a", value: []byte("1")})
	if !r.ok || r.rev != 1 || r.prev != nil {
		t.Fatalf("first put: %+v", r)
	}
	r = a.do(command{op: opPut, key: "a", value: []byte("2")})
	if r.prev == nil || string(r.prev.Value) != "1" {
		t.Fatalf("second put: %+v", r)
	}
	e, ok := a.s.get("a")
	if !ok || string(e.Value) != "2" || e.CreateRev != 1 || e.ModRev != 2 || e.Version != 2 {
		t.Fatalf("entry %+v", e)
	}
	// CAS by modification revision; 0 means only when absent.
	if r := a.do(command{op: opCAS, key: "a", modRev: 1, value: []byte("x")}); r.ok {
		t.Fatal("cas with a stale revision applied")
	}
	if r := a.do(command{op: opCAS, key: "a", modRev: 2, value: []byte("3")}); !r.ok || r.rev != 4 {
		t.Fatalf("cas: %+v", r)
	}
	if r := a.do(command{op: opCAS, key: "b", modRev: 0, value: []byte("new")}); !r.ok {
		t.Fatal("cas on an absent key with 0 failed")
	}
	if r := a.do(command{op: opCAS, key: "b", modRev: 0, value: []byte("again")}); r.ok {
		t.Fatal("cas with 0 on a present key applied")
	}
	if r := a.do(command{op: opDelete, key: "a"}); !r.ok || r.prev == nil {
		t.Fatalf("delete: %+v", r)
	}
	if r := a.do(command{op: opDelete, key: "a"}); r.ok {
		t.Fatal("delete of an absent key reported ok")
	}
	for _, k := range []string{"p/2", "p/1", "q", "p/3"} {
		a.do(command{op: opPut, key: k, value: []byte(k)})
	}
	list, rev := a.s.list("p/", 0)
	if len(list) != 3 || list[0].Key != "p/1" || list[2].Key != "p/3" || rev != a.idx {
		t.Fatalf("list: %+v at %d", list, rev)
	}
	if l, _ := a.s.list("p/", 2); len(l) != 2 {
		t.Fatalf("limit: %d", len(l))
	}
	// A replayed entry (raft replays from the last snapshot) is skipped.
	if r := a.s.apply(1, command{op: opDelete, key: "b"}); r.rev != a.idx {
		t.Fatalf("replay applied: %+v", r)
	}
	if _, ok := a.s.get("b"); !ok {
		t.Fatal("replayed delete removed a key")
	}
}

// TestFSMLeasesConsensusTime: leases expire by the time commands carry,
// not by any replica's clock, so replicas agree on when.
func TestFSMLeasesConsensusTime(t *testing.T) {
	a := newApplier(100)
	t0 := a.now
	a.do(command{op: opGrant, lease: 7, ttl: 10 * time.Second, now: t0})
	if r := a.do(command{op: opPut, key: "svc/a", value: []byte("x"), lease: 7, now: t0}); !r.ok {
		t.Fatal(r.err)
	}
	if r := a.do(command{op: opPut, key: "svc/b", value: []byte("x"), lease: 99}); !errors.Is(r.err, ErrLeaseNotFound) {
		t.Fatalf("put on a missing lease: %+v", r)
	}
	a.do(command{op: opPut, key: "keep", value: []byte("y"), now: t0})
	// Time passes only as commands say: 9 s, a keepalive, 9 s more.
	a.do(command{op: opExpire, now: t0 + int64(9*time.Second)})
	if _, ok := a.s.get("svc/a"); !ok {
		t.Fatal("expired early")
	}
	a.do(command{op: opKeepAlive, lease: 7, now: t0 + int64(9*time.Second)})
	a.do(command{op: opExpire, now: t0 + int64(18*time.Second)})
	if _, ok := a.s.get("svc/a"); !ok {
		t.Fatal("keepalive ignored")
	}
	a.do(command{op: opExpire, now: t0 + int64(19*time.Second)})
	if _, ok := a.s.get("svc/a"); ok {
		t.Fatal("lease did not expire")
	}
	if _, ok := a.s.get("keep"); !ok {
		t.Fatal("a key without lease went")
	}
	if r := a.do(command{op: opKeepAlive, lease: 7}); !errors.Is(r.err, ErrLeaseNotFound) {
		t.Fatalf("keepalive of an expired lease: %+v", r)
	}
	// A late proposer's clock never moves consensus time back.
	a.do(command{op: opGrant, lease: 8, ttl: time.Second, now: t0})
	a.do(command{op: opExpire, now: t0})
	if _, _, ok := a.s.leaseInfo(8); ok {
		t.Fatal("a lease granted by a clock behind consensus time outlived its deadline")
	}
}

// randomCommands is a mix of every command over few keys and leases.
func randomCommands(seed uint64, n int) []command {
	r := rand.New(rand.NewPCG(seed, 3))
	now := int64(time.Hour)
	var out []command
	for range n {
		now += int64(r.IntN(500)) * int64(time.Millisecond)
		k := fmt.Sprint("k", r.IntN(20))
		l := uint64(r.IntN(4))
		c := command{now: now, key: k, lease: l}
		switch r.IntN(8) {
		case 0, 1:
			c.op, c.value = opPut, []byte(fmt.Sprint(r.IntN(1000)))
		case 2:
			c.op = opDelete
		case 3:
			c.op, c.modRev, c.value = opCAS, uint64(r.IntN(n)), []byte("cas")
		case 4:
			c.op, c.ttl, c.lease = opGrant, time.Duration(1+r.IntN(5))*time.Second, l+1
		case 5:
			c.op, c.lease = opKeepAlive, l+1
		case 6:
			c.op, c.lease = opRevoke, l+1
		default:
			c.op = opExpire
		}
		out = append(out, c)
	}
	return out
}

func snapshotBytes(t *testing.T, s *state) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.freeze().write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFSMDeterministic: replicas applying the same log end in the same
// state (equal snapshots), emit the same events, and a snapshot
// restored and fed the rest of the log ends there too.
func TestFSMDeterministic(t *testing.T) {
	for seed := range uint64(20) {
		cmds := randomCommands(seed, 400)
		a, b, c := newApplier(10_000), newApplier(10_000), newApplier(10_000)
		half := len(cmds) / 2
		for i, cmd := range cmds {
			a.do(cmd)
			b.do(cmd)
			if i == half-1 {
				r, err := readState(bytes.NewReader(snapshotBytes(t, b.s)))
				if err != nil {
					t.Fatal(err)
				}
				c.s.restoreFrom(r)
				c.idx = b.idx
			}
			if i >= half {
				c.do(cmd)
			}
		}
		checkLeases(t, a.s)
		checkLeases(t, c.s)
		sa, sb, sc := snapshotBytes(t, a.s), snapshotBytes(t, b.s), snapshotBytes(t, c.s)
		if !bytes.Equal(sa, sb) || !bytes.Equal(sa, sc) {
			t.Fatalf("seed %d: replicas differ", seed)
		}
		ea, _, _ := a.s.eventsAfter(0, "", 1<<20)
		eb, _, _ := b.s.eventsAfter(0, "", 1<<20)
		if !reflect.DeepEqual(ea, eb) || len(ea) == 0 {
			t.Fatalf("seed %d: events differ (%d, %d)", seed, len(ea), len(eb))
		}
	}
}

// TestFSMModel compares puts, deletes and CAS with a map model.
func TestFSMModel(t *testing.T) {
	a := newApplier(10)
	model := map[string]string{}
	modRev := map[string]uint64{}
	r := rand.New(rand.NewPCG(5, 5))
	for i := range 3000 {
		k := fmt.Sprint("k", r.IntN(30))
		v := fmt.Sprint(i)
		switch r.IntN(3) {
		case 0:
			a.do(command{op: opPut, key: k, value: []byte(v)})
			model[k], modRev[k] = v, a.idx
		case 1:
			a.do(command{op: opDelete, key: k})
			delete(model, k)
			delete(modRev, k)
		default:
			want := modRev[k]
			if r.IntN(2) == 0 {
				want++ // stale
			}
			res := a.do(command{op: opCAS, key: k, modRev: want, value: []byte(v)})
			if match := want == modRev[k]; res.ok != match {
				t.Fatalf("op %d: cas %v, model says %v", i, res.ok, match)
			} else if match {
				model[k], modRev[k] = v, a.idx
			}
		}
	}
	list, _ := a.s.list("", 0)
	if len(list) != len(model) {
		t.Fatalf("%d keys, model %d", len(list), len(model))
	}
	for _, e := range list {
		if model[e.Key] != string(e.Value) || modRev[e.Key] != e.ModRev {
			t.Fatalf("%s = %q@%d, model %q@%d", e.Key, e.Value, e.ModRev, model[e.Key], modRev[e.Key])
		}
	}
}

func TestFSMWatchHistory(t *testing.T) {
	a := newApplier(5)
	for i := range 3 {
		a.do(command{op: opPut, key: fmt.Sprint("w/", i), value: []byte("v")})
	}
	a.do(command{op: opPut, key: "other", value: []byte("v")})
	evs, seen, err := a.s.eventsAfter(1, "w/", 10)
	if err != nil || len(evs) != 2 || evs[0].Rev != 2 || seen != 4 {
		t.Fatalf("events %+v, seen %d, %v", evs, seen, err)
	}
	for range 10 {
		a.do(command{op: opPut, key: "w/x", value: []byte("v")})
	}
	if _, _, err := a.s.eventsAfter(1, "w/", 10); !errors.Is(err, ErrCompacted) {
		t.Fatalf("from a compacted revision: %v", err)
	}
	if evs, _, err := a.s.eventsAfter(a.idx-2, "", 10); err != nil || len(evs) != 2 {
		t.Fatalf("recent: %+v %v", evs, err)
	}
	// wait wakes when the revision moves past the one given.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	at := a.idx
	go func() { done <- a.s.watches.wait(ctx, at) }()
	a.do(command{op: opDelete, key: "w/x"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := a.s.watches.wait(short, a.idx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait with nothing new: %v", err)
	}
	// After a restore, watches from before the snapshot are compacted.
	r, err := readState(bytes.NewReader(snapshotBytes(t, a.s)))
	if err != nil {
		t.Fatal(err)
	}
	b := newApplier(5)
	b.s.restoreFrom(r)
	if _, _, err := b.s.eventsAfter(a.idx-1, "", 10); !errors.Is(err, ErrCompacted) {
		t.Fatalf("from before the snapshot: %v", err)
	}
	if evs, seen, err := b.s.eventsAfter(a.idx, "", 10); err != nil || len(evs) != 0 || seen != a.idx {
		t.Fatalf("from the snapshot's revision: %v %d %v", evs, seen, err)
	}
}

func TestSnapshotMalformed(t *testing.T) {
	a := newApplier(5)
	a.do(command{op: opGrant, lease: 1, ttl: time.Second})
	a.do(command{op: opPut, key: "k", value: []byte("v"), lease: 1})
	good := snapshotBytes(t, a.s)
	for name, b := range map[string][]byte{
		"magic":    append([]byte("XXXX"), good[4:]...),
		"cut":      good[:len(good)-3],
		"trailing": append(append([]byte(nil), good...), 0),
		"empty":    nil,
	} {
		if _, err := readState(bytes.NewReader(b)); !errors.Is(err, errBadKVSnapshot) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A key that names a lease the snapshot lacks.
	b := newApplier(5)
	b.do(command{op: opPut, key: "k", value: []byte("v")})
	raw := snapshotBytes(t, b.s)
	raw[len(raw)-8-1] = 5 // the key's lease field, before the lease count
	if _, err := readState(bytes.NewReader(raw)); !errors.Is(err, errBadKVSnapshot) {
		t.Errorf("dangling lease: %v", err)
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range randomCommands(1, 40) {
		f.Add(appendCommand(nil, c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommand(b)
		if err != nil {
			return
		}
		if again := appendCommand(nil, c); !bytes.Equal(again, b) {
			t.Fatalf("%+v re-encodes differently", c)
		}
	})
}

func FuzzReadState(f *testing.F) {
	a := newApplier(5)
	for _, c := range randomCommands(2, 50) {
		a.do(c)
	}
	var b bytes.Buffer
	a.s.freeze().write(&b)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := readState(bytes.NewReader(b))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := s.freeze().write(&out); err != nil {
			t.Fatal(err)
		}
	})
}

// checkLeases verifies that keys and leases point at each other.
func checkLeases(t *testing.T, s *state) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, e := range s.keys {
		if e.Lease == 0 {
			continue
		}
		l := s.leases[e.Lease]
		if l == nil {
			t.Fatalf("key %q of lease %d, which is not there", k, e.Lease)
		}
		if _, ok := l.keys[k]; !ok {
			t.Fatalf("lease %d does not list its key %q", e.Lease, k)
		}
	}
	for id, l := range s.leases {
		for k := range l.keys {
			if e := s.keys[k]; e == nil || e.Lease != id {
				t.Fatalf("lease %d lists %q, which is not its", id, k)
			}
		}
	}
}
