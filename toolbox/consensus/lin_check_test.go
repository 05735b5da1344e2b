package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The checks after a schedule (and, for the logs, during it):
//
//   - lnAuditor: no two members' raft logs differ at an index both
//     hold as committed;
//   - lnCheckAckedInLogs: every acknowledged write is the command at
//     the index it was acknowledged with, in every log that holds it;
//   - lnCheckFinal: the final state keeps the effect of the last
//     acknowledged write of every key, unless a write of unknown
//     outcome may have come after it.

// lnLogView is what the auditor reads of one running member's raft
// log. Only entries in (floor, applied] are taken as committed:
//
//   - applied: the member has applied every entry up to it, through
//     its log or a snapshot, so they are committed;
//   - floor: the highest index of any snapshot sent to the member.
//     When a member installs a snapshot, raft on a store that is not
//     monotonic (raft.InmemStore, bbolt) keeps the trailing entries it
//     had below the snapshot's index, and those may be entries of an
//     old term that never committed. Entries above the snapshot come
//     from the leader (a conflicting one is truncated), so they are
//     sound. applied is read before floor: a snapshot that raised
//     applied was sent before, so floor covers it.
type lnLogView struct {
	id             string
	logs           raft.LogStore
	floor, applied uint64
}

// logViews returns a view of every running member's log.
func (c *lnCluster) logViews() []lnLogView {
	var out []lnLogView
	for i, nd := range c.nodeSlots() {
		if nd == nil {
			continue
		}
		applied := nd.raft.AppliedIndex()
		out = append(out, lnLogView{id: nd.ID(), logs: nd.logs, floor: c.f.snapshotFloor(c.servers[i].Address), applied: applied})
	}
	return out
}

// lnAuditor compares the members' committed log entries: the first
// member seen holding an index sets its reference entry, and every
// other entry read at that index must equal it (index, term, type,
// data, extensions). Audits during a schedule read only what each
// member applied since its last audit (the logs are compacted every
// 64-128 entries, so audits every 25 ms see most entries on several
// members); the audit after it reads every committed entry the members
// still hold.
type lnAuditor struct {
	ref      map[uint64]raft.Log
	holder   map[uint64]string
	marks    map[string]uint64 // by member: the highest index audited
	compared int               // entries compared with another member's
}

func newLnAuditor() *lnAuditor {
	return &lnAuditor{ref: map[uint64]raft.Log{}, holder: map[uint64]string{}, marks: map[string]uint64{}}
}

// audit reads views; full reads every committed entry held, not only
// those not audited yet.
func (a *lnAuditor) audit(views []lnLogView, full bool) error {
	for _, v := range views {
		first, err := v.logs.FirstIndex()
		if err != nil {
			return err
		}
		last, err := v.logs.LastIndex()
		if err != nil {
			return err
		}
		lo, hi := max(first, v.floor+1), min(last, v.applied)
		if !full {
			lo = max(lo, a.marks[v.id]+1)
			a.marks[v.id] = max(a.marks[v.id], hi)
		}
		for i := lo; i <= hi; i++ {
			var e raft.Log
			if err := v.logs.GetLog(i, &e); errors.Is(err, raft.ErrLogNotFound) {
				continue // compacted meanwhile
			} else if err != nil {
				return fmt.Errorf("%s: entry %d: %v", v.id, i, err)
			}
			ref, ok := a.ref[i]
			if !ok {
				e.Data, e.Extensions = bytes.Clone(e.Data), bytes.Clone(e.Extensions)
				a.ref[i], a.holder[i] = e, v.id
				continue
			}
			if a.holder[i] != v.id {
				a.compared++
			}
			if e.Index != ref.Index || e.Term != ref.Term || e.Type != ref.Type || !bytes.Equal(e.Data, ref.Data) || !bytes.Equal(e.Extensions, ref.Extensions) {
				return fmt.Errorf("the committed logs differ at index %d: %s holds %s, %s holds %s", i, a.holder[i], lnDescribe(ref), v.id, lnDescribe(e))
			}
		}
	}
	return nil
}

// lnDescribe names a log entry, decoding a command.
func lnDescribe(e raft.Log) string {
	if e.Type != raft.LogCommand {
		return fmt.Sprintf("term %d %v", e.Term, e.Type)
	}
	c, err := decodeCommand(e.Data)
	if err != nil {
		return fmt.Sprintf("term %d undecodable command (%v)", e.Term, err)
	}
	return fmt.Sprintf("term %d %v %q=%q modrev %d", e.Term, c.op, c.key, c.value, c.modRev)
}

// lnCheckAckedInLogs: every acknowledged write w is the command at
// index w.rev wherever the auditor read that index (the auditor made
// sure every member that held it held the same entry). It returns how
// many acknowledged writes were found; the others were compacted
// before any audit read them, and lnCheckFinal and porcupine cover
// them.
func lnCheckAckedInLogs(ref map[uint64]raft.Log, writes []lnWrite) (found int, err error) {
	for _, w := range writes {
		if !w.acked {
			continue
		}
		e, ok := ref[w.rev]
		if !ok {
			continue
		}
		found++
		c, err := decodeCommand(e.Data)
		if e.Type != raft.LogCommand || err != nil || c.op != w.op || c.key != w.key ||
			(w.op != opDelete && string(c.value) != w.value) || (w.op == opCAS && c.modRev != w.modRev) {
			return found, fmt.Errorf("the %v of %q=%q was acknowledged at index %d, which holds %s", w.op, w.key, w.value, w.rev, lnDescribe(e))
		}
	}
	return found, nil
}

// lnCheckFinal checks the final state of every key written against the
// acknowledged writes. It is sound, it fails only on a lost or
// misreported write, because:
//
//   - A key's final state is the effect of the last command in the log
//     that changed it. Only the clients write k0..k2 (no leases; the
//     final sync write is to another key).
//   - An acknowledged write that changed its key (any put, a delete
//     that found the key, a compare-and-swap that matched) is the
//     command at index rev. Let l be the one with the highest rev for
//     the key, so the last change L has an index >= l.rev.
//   - If L is l, the key holds l's value with ModRev l.rev, or is
//     absent when l is a delete.
//   - Otherwise L came after l and is no write acknowledged as
//     changing the key: it is a write whose outcome its client did not
//     learn. A put or compare-and-swap leaves its value (unique per
//     write) with ModRev > l.rev; a delete leaves the key absent, and
//     then some delete of that key has an unknown outcome.
//   - A value present must be some client's write to that key, and if
//     its write was acknowledged, acknowledged as changing the key at
//     that ModRev.
//
// An absent key after an acknowledged put is accepted as soon as some
// delete of unknown outcome exists, whenever it ran: the state alone
// cannot tell when that delete applied.
func lnCheckFinal(writes []lnWrite, finals map[string]*Entry) error {
	last := map[string]*lnWrite{}
	byValue := map[string]*lnWrite{}
	unknownDelete := map[string]bool{}
	keys := map[string]bool{}
	for i := range writes {
		w := &writes[i]
		keys[w.key] = true
		if w.op != opDelete {
			byValue[w.value] = w
		}
		if !w.acked && w.op == opDelete {
			unknownDelete[w.key] = true
		}
		if w.acked && w.changed && (last[w.key] == nil || w.rev > last[w.key].rev) {
			last[w.key] = w
		}
	}
	for k := range finals {
		keys[k] = true
	}
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if !yield(k) {
				return
			}
		}
	}) {
		e, l := finals[key], last[key]
		if e == nil {
			if l != nil && l.op != opDelete && !unknownDelete[key] {
				return fmt.Errorf("%q is absent, but its %v of %q was acknowledged at index %d and no delete of it has an unknown outcome", key, l.op, l.value, l.rev)
			}
			continue
		}
		w := byValue[string(e.Value)]
		switch {
		case w == nil || w.key != key:
			return fmt.Errorf("%q holds %q, which no client wrote to it", key, e.Value)
		case l != nil && e.ModRev < l.rev:
			return fmt.Errorf("%q holds %q of index %d: the %v of %q acknowledged at index %d is lost", key, e.Value, e.ModRev, l.op, l.value, l.rev)
		case l != nil && e.ModRev == l.rev && w != l:
			return fmt.Errorf("%q holds %q of index %d, where the %v of %q was acknowledged", key, e.Value, e.ModRev, l.op, l.value)
		case w.acked && (!w.changed || w.rev != e.ModRev):
			return fmt.Errorf("%q holds %q of index %d, but that write was acknowledged at index %d as changing the key: %v", key, e.Value, e.ModRev, w.rev, w.changed)
		}
	}
	return nil
}

// lnLogOf builds a log store holding commands at the given indices,
// for the checks' own tests.
func lnLogOf(t *testing.T, term uint64, cmds map[uint64]command) *raft.InmemStore {
	t.Helper()
	s := raft.NewInmemStore()
	for _, i := range slices.Sorted(func(yield func(uint64) bool) {
		for i := range cmds {
			if !yield(i) {
				return
			}
		}
	}) {
		if err := s.StoreLog(&raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: appendCommand(nil, cmds[i])}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestLinearizableAfterChecksBite: the log audit, the acknowledged-
// write check and the final-state check each catch a divergence or a
// lost write planted in logs and histories made up for them, and in
// the logs and history of a real run.
func TestLinearizableAfterChecksBite(t *testing.T) {
	cmds := map[uint64]command{}
	for i := uint64(1); i <= 20; i++ {
		cmds[i] = command{op: opPut, now: int64(i), key: "k0", value: []byte(fmt.Sprint("v", i))}
	}
	t.Run("logs", func(t *testing.T) {
		a, b := lnLogOf(t, 1, cmds), lnLogOf(t, 1, cmds)
		aud := newLnAuditor()
		if err := aud.audit([]lnLogView{{id: "a", logs: a, applied: 20}, {id: "b", logs: b, applied: 20}}, true); err != nil || aud.compared != 20 {
			t.Fatalf("equal logs: %v, %d compared", err, aud.compared)
		}
		planted := cmds[7]
		planted.value = []byte("planted")
		b.StoreLog(&raft.Log{Index: 7, Term: 1, Type: raft.LogCommand, Data: appendCommand(nil, planted)})
		b.StoreLog(&raft.Log{Index: 15, Term: 2, Type: raft.LogCommand, Data: appendCommand(nil, cmds[15])})
		err := newLnAuditor().audit([]lnLogView{{id: "a", logs: a, applied: 20}, {id: "b", logs: b, applied: 20}}, true)
		if err == nil {
			t.Fatal("a planted divergence at index 7 was not caught")
		}
		t.Log(err)
		err = newLnAuditor().audit([]lnLogView{{id: "a", logs: a, applied: 20}, {id: "b", logs: b, floor: 10, applied: 20}}, true)
		if err == nil {
			t.Fatal("a planted divergence of term at index 15 was not caught")
		}
		t.Log(err)
		// At or below a snapshot sent, or above what was applied, an
		// entry may differ.
		if err := newLnAuditor().audit([]lnLogView{{id: "a", logs: a, applied: 20}, {id: "b", logs: b, floor: 7, applied: 14}}, true); err != nil {
			t.Fatalf("entries outside (floor, applied] compared: %v", err)
		}
		// Audits during a run read each index once per member.
		aud = newLnAuditor()
		for _, applied := range []uint64{5, 12, 20} {
			if err := aud.audit([]lnLogView{{id: "a", logs: a, applied: applied}, {id: "c", logs: lnLogOf(t, 1, cmds), applied: applied}}, false); err != nil {
				t.Fatal(err)
			}
		}
		if aud.compared != 20 {
			t.Fatalf("%d entries compared in increments, want 20", aud.compared)
		}
	})
	ref := newLnAuditor()
	if err := ref.audit([]lnLogView{{id: "a", logs: lnLogOf(t, 1, cmds), applied: 20}}, true); err != nil {
		t.Fatal(err)
	}
	t.Run("acknowledged in the logs", func(t *testing.T) {
		good := []lnWrite{{op: opPut, key: "k0", value: "v5", acked: true, rev: 5, changed: true}, {op: opPut, key: "k0", value: "v99", acked: true, rev: 99, changed: true}}
		if n, err := lnCheckAckedInLogs(ref.ref, good); err != nil || n != 1 {
			t.Fatalf("%d found, %v; want 1 and no error", n, err)
		}
		for _, w := range []lnWrite{
			{op: opPut, key: "k0", value: "lost", acked: true, rev: 6, changed: true},
			{op: opPut, key: "k1", value: "v6", acked: true, rev: 6, changed: true},
			{op: opDelete, key: "k0", acked: true, rev: 6},
			{op: opCAS, key: "k0", value: "v6", acked: true, rev: 6, changed: true},
		} {
			if _, err := lnCheckAckedInLogs(ref.ref, append(good, w)); err == nil {
				t.Fatalf("%+v at an index holding another command was not caught", w)
			} else {
				t.Log(err)
			}
		}
	})
	t.Run("final state", func(t *testing.T) {
		put := func(v string, rev uint64) lnWrite {
			return lnWrite{op: opPut, key: "k", value: v, acked: true, rev: rev, changed: true}
		}
		unknown := func(op opCode, v string) lnWrite { return lnWrite{op: op, key: "k", value: v} }
		at := func(v string, rev uint64) map[string]*Entry {
			return map[string]*Entry{"k": {Key: "k", Value: []byte(v), ModRev: rev}}
		}
		for _, tc := range []struct {
			name   string
			writes []lnWrite
			final  map[string]*Entry
			ok     bool
		}{
			{"last write kept", []lnWrite{put("a", 5), put("b", 9)}, at("b", 9), true},
			{"later unknown put", []lnWrite{put("a", 5), unknown(opPut, "b")}, at("b", 12), true},
			{"later unknown delete", []lnWrite{put("a", 5), unknown(opDelete, "")}, nil, true},
			{"acknowledged delete", []lnWrite{put("a", 5), {op: opDelete, key: "k", acked: true, rev: 7, changed: true}}, nil, true},
			{"delete that found nothing", []lnWrite{put("a", 5), {op: opDelete, key: "k", acked: true, rev: 7}}, at("a", 5), true},
			{"last write lost", []lnWrite{put("a", 5), put("b", 9)}, at("a", 5), false},
			{"put lost to absence", []lnWrite{put("a", 5)}, nil, false},
			{"delete lost", []lnWrite{put("a", 5), {op: opDelete, key: "k", acked: true, rev: 7, changed: true}}, at("a", 5), false},
			{"unknown write at an acknowledged index", []lnWrite{put("a", 5), unknown(opPut, "b")}, at("b", 5), false},
			{"value nobody wrote", []lnWrite{put("a", 5)}, at("z", 8), false},
			{"compare-and-swap reported failed", []lnWrite{put("a", 5), {op: opCAS, key: "k", value: "c", acked: true, rev: 8}}, at("c", 8), false},
			{"acknowledged at another index", []lnWrite{put("a", 5)}, at("a", 6), false},
		} {
			err := lnCheckFinal(tc.writes, tc.final)
			if (err == nil) != tc.ok {
				t.Errorf("%s: %v", tc.name, err)
			} else if err != nil {
				t.Logf("%s: %v", tc.name, err)
			}
		}
	})
	t.Run("real run", func(t *testing.T) {
		c := newLnMemCluster(t, 3, 7)
		st := linRunOn(t, c, 7, 2*time.Second, false)
		t.Log(st)
		// A planted divergence: the last entry two members both
		// applied is replaced on one of them.
		views := c.logViews()
		if err := newLnAuditor().audit(views, true); err != nil {
			t.Fatal(err)
		}
		a, b := views[0], views[1]
		idx := min(a.applied, b.applied)
		var e raft.Log
		if err := a.logs.GetLog(idx, &e); err != nil || idx <= max(a.floor, b.floor) {
			t.Fatalf("%s holds no committed entry at %d to compare: %v", a.id, idx, err)
		}
		if err := b.logs.GetLog(idx, &e); err != nil {
			t.Fatalf("%s holds no committed entry at %d to corrupt: %v", b.id, idx, err)
		}
		e.Data = appendCommand(nil, command{op: opPut, key: "k0", value: []byte("planted")})
		e.Type = raft.LogCommand
		if err := b.logs.StoreLog(&e); err != nil {
			t.Fatal(err)
		}
		err := newLnAuditor().audit(views, true)
		if err == nil {
			t.Fatalf("the entry planted at %d on %s was not caught", idx, b.id)
		}
		t.Log(err)
		// A planted lost write: a put acknowledged at the last index
		// audited, after every write of k0.
		var top uint64
		for i := range st.aud.ref {
			top = max(top, i)
		}
		lost := append(st.h.writes, lnWrite{op: opPut, key: "k0", value: "lost", acked: true, rev: top, changed: true})
		if _, err := lnCheckAckedInLogs(st.aud.ref, lost); err == nil {
			t.Fatal("a write acknowledged at an index holding another command was not caught")
		} else {
			t.Log(err)
		}
		if err := lnCheckFinal(lost, st.finals); err == nil {
			t.Fatal("an acknowledged write missing from the final state was not caught")
		} else {
			t.Log(err)
		}
	})
}
