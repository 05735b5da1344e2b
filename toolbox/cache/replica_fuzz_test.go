package cache

import (
	"testing"
	"time"
)

// FuzzReplicaUpdates feeds a live replica's loop arbitrary messages
// (split from the input at 0xff bytes), without the network. Whatever
// comes, it must not panic, must apply only the next seq of its epoch,
// and must never go back.
func FuzzReplicaUpdates(f *testing.F) {
	const epoch = 7
	seed := func(us ...update) []byte {
		var b []byte
		for _, u := range us {
			b = append(appendUpdate(b, u), 0xff)
		}
		return b
	}
	f.Add(seed(update{kind: kindSet, epoch: epoch, seq: 11, key: "k", value: []byte("v"), ttl: time.Second}))
	f.Add(seed(update{kind: kindDelete, epoch: epoch, seq: 11, key: "a", reason: Deleted},
		update{kind: kindHeartbeat, epoch: epoch, seq: 11, interval: time.Second}))
	f.Add(seed(update{kind: kindSet, epoch: epoch, seq: 13, key: "k", value: []byte("v")}))
	f.Add(seed(update{kind: kindSet, epoch: 8, seq: 1, key: "k", value: []byte("v")}))
	f.Add([]byte{1, 2, 3, 0xff, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &Replica{cfg: defaultReplicaConfig(), changed: make(chan struct{})}
		r.cfg.maxValue = 1 << 10
		st, err := r.newStore()
		if err != nil {
			t.Fatal(err)
		}
		defer st.c.Close()
		st.c.Set("a", replicaValue{value: []byte("x"), version: 3}, NoExpiry)
		r.store.Store(st)
		r.st.State = ReplicaLive
		r.st.LastHeard = time.Now()
		l := &syncLoop{live: true, synced: true, epoch: epoch, seq: 10}
		for _, msg := range splitAt(in, 0xff) {
			before := l.seq
			wasLive := l.live
			r.onMessage(l, msg)
			if !wasLive {
				continue
			}
			if l.seq < before {
				t.Fatalf("seq went back from %d to %d", before, l.seq)
			}
			if l.seq != before {
				u, err := decodeUpdate(msg)
				if err != nil || u.epoch != epoch || u.seq != before+1 || u.kind == kindHeartbeat {
					t.Fatalf("applied %x (%+v, %v) at seq %d", msg, u, err, before)
				}
			}
		}
		if st := r.Status(); st.Applied != l.seq-10 {
			t.Fatalf("applied %d, seq moved by %d", st.Applied, l.seq-10)
		}
		for _, k := range st.c.Keys() {
			it, _ := st.c.Peek(k)
			if it.Value.version > l.seq || len(it.Value.value) > 1<<10 {
				t.Fatalf("%s held at version %d (seq %d), %d bytes", k, it.Value.version, l.seq, len(it.Value.value))
			}
		}
	})
}

func splitAt(b []byte, sep byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != sep {
			i++
		}
		out = append(out, b[:i])
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}
