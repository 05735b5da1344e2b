package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// syncLoop is the state of the replica's loop, owned by its goroutine.
type syncLoop struct {
	live     bool          // a copy is in sequence: updates apply to it
	epoch    uint64        // of the copy held
	seq      uint64        // the last write applied to it
	snapSeq  uint64        // the seq of the snapshot it was loaded from
	want     bool          // a synchronisation is wanted
	dl       *snapDownload // the one in progress, or nil
	buf      []update      // updates received while dl runs
	bufBytes int64         // their bytes
	lastSync time.Time     // when the last synchronisation started
	backoff  time.Duration // the pause before the next one
	lost     uint64        // the subscription's drops already seen
	interval time.Duration // the server's heartbeat interval, once heard
	synced   bool          // a first snapshot has been applied
}

// snapDownload is one snapshot being fetched; done receives its result.
type snapDownload struct {
	cancel context.CancelFunc
	done   chan snapshotResult
	stale  bool // abandoned: its result is discarded
}

type snapshotResult struct {
	store *replicaStore
	hdr   snapHeader
	err   error
}

// errOversized marks a snapshot or value beyond the replica's bounds.
var errOversized = errors.New("cache: beyond the replica's bounds")

// run is the replica's loop: it reads updates, drives synchronisations
// and watches the server's liveness, until Close.
func (r *Replica) run() {
	l := &syncLoop{want: true, backoff: r.cfg.backoffMin}
	tick := time.NewTicker(r.cfg.tickInterval)
	defer func() {
		tick.Stop()
		if l.dl != nil {
			l.dl.cancel()
			if res := <-l.dl.done; res.store != nil {
				res.store.c.Close()
			}
		}
		r.mu.Lock()
		r.ended = true
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}()
	r.maybeSync(l)
	for {
		var done chan snapshotResult
		if l.dl != nil {
			done = l.dl.done
		}
		select {
		case <-r.ctx.Done():
			return
		case m, ok := <-r.sub.C():
			if !ok {
				return
			}
			r.onMessage(l, m.Data)
		case res := <-done:
			r.onSnapshot(l, res)
		case <-tick.C:
			r.onTick(l)
		}
		r.maybeSync(l)
	}
}

// resync asks for a new synchronisation: the copy held is no longer in
// sequence. A download in progress is abandoned, as its buffer may lack
// what caused this.
func (r *Replica) resync(l *syncLoop) {
	l.live = false
	l.want = true
	l.buf, l.bufBytes = nil, 0
	if l.dl != nil && !l.dl.stale {
		l.dl.stale = true
		l.dl.cancel()
	}
	r.mu.Lock()
	r.setState(ReplicaSyncing)
	r.mu.Unlock()
}

// maybeSync starts a wanted synchronisation when no download runs and
// the backoff has passed.
func (r *Replica) maybeSync(l *syncLoop) {
	if !l.want || l.dl != nil || time.Since(l.lastSync) < l.backoff {
		return
	}
	if l.synced {
		r.mu.Lock()
		r.st.Resyncs++
		r.mu.Unlock()
	}
	l.want = false
	l.lastSync = time.Now()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.snapTimeout)
	l.dl = &snapDownload{cancel: cancel, done: make(chan snapshotResult, 1)}
	done := l.dl.done
	r.goFunc(func() {
		defer cancel()
		st, hdr, err := r.fetchSnapshot(ctx)
		done <- snapshotResult{store: st, hdr: hdr, err: err}
	})
}

// fetchSnapshot waits for the subscription to be connected, so that no
// update after the snapshot is missed, then downloads the snapshot
// into a new store.
func (r *Replica) fetchSnapshot(ctx context.Context) (*replicaStore, snapHeader, error) {
	if err := r.sub.WaitConnected(ctx, 1); err != nil {
		return nil, snapHeader{}, fmt.Errorf("waiting for %s.updates: %w", r.name, err)
	}
	body, err := r.p.Download(ctx, r.name+".snapshot", nil)
	if err != nil {
		return nil, snapHeader{}, err
	}
	defer body.Close()
	lr := &limitedReader{r: body, left: r.cfg.maxSnapshot}
	sr, hdr, err := newSnapReader(lr, r.cfg.maxValue)
	if err != nil {
		return nil, hdr, lr.cause(err)
	}
	st, err := r.newStore()
	if err != nil {
		return nil, hdr, err
	}
	for {
		rec, err := sr.next()
		if err == io.EOF {
			return st, hdr, nil
		}
		if err != nil {
			st.c.Close()
			return nil, hdr, lr.cause(err)
		}
		r.storeSet(st, rec.key, rec.value, rec.version, rec.ttl)
	}
}

// limitedReader fails reads past a bound: a snapshot larger than the
// replica accepts, or one that never ends, stops there.
type limitedReader struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.over = true
		return 0, errOversized
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// cause names the bound when it was what failed the read.
func (l *limitedReader) cause(err error) error {
	if l.over {
		return fmt.Errorf("%w: %v", errOversized, err)
	}
	return err
}

// onSnapshot takes a download's result: on success the buffered
// updates are applied after it and the new copy replaces the old.
func (r *Replica) onSnapshot(l *syncLoop, res snapshotResult) {
	dl := l.dl
	l.dl = nil
	if dl.stale {
		if res.store != nil {
			res.store.c.Close()
		}
		return
	}
	if res.err != nil {
		r.snapshotFailed(l, res.err)
		return
	}
	epoch, seq := res.hdr.epoch, res.hdr.seq
	for _, u := range l.buf {
		switch {
		case u.epoch != epoch:
			r.countEpoch()
		case u.kind == kindHeartbeat && u.seq <= seq:
			continue
		case u.kind == kindHeartbeat:
			r.countGap()
		case u.seq <= seq:
			continue
		case u.seq == seq+1:
			r.applyTo(res.store, u)
			seq = u.seq
			continue
		default:
			r.countGap()
		}
		res.store.c.Close()
		r.resync(l)
		return
	}
	l.buf, l.bufBytes = nil, 0
	l.snapSeq = res.hdr.seq
	r.install(l, res.store, epoch, seq)
}

// snapshotFailed counts a failed download and backs off.
func (r *Replica) snapshotFailed(l *syncLoop, err error) {
	r.mu.Lock()
	r.st.SnapshotFailures++
	if errors.Is(err, errBadSnapshot) || errors.Is(err, errOversized) {
		r.st.Malformed++
	}
	r.mu.Unlock()
	l.backoff = min(2*l.backoff, r.cfg.backoffMax)
	l.want = true
	l.buf, l.bufBytes = nil, 0
}

// install makes st the replica's copy, in sequence at epoch and seq,
// and reports the keys that differ from the copy it replaces.
func (r *Replica) install(l *syncLoop, st *replicaStore, epoch, seq uint64) {
	old := r.store.Swap(st)
	l.live, l.epoch, l.seq, l.synced = true, epoch, seq, true
	l.backoff = max(l.backoff/2, r.cfg.backoffMin)
	now := time.Now()
	r.mu.Lock()
	r.st.Epoch, r.st.Seq, r.st.SyncedAt, r.st.LastHeard = epoch, seq, now, now
	r.st.Syncs++
	r.setState(ReplicaLive)
	r.mu.Unlock()
	old.c.Close()
	if r.cfg.onChange != nil {
		r.diff(old, st)
	}
}

// diff reports the keys whose entries differ between two copies.
func (r *Replica) diff(old, cur *replicaStore) {
	for _, k := range old.c.Keys() {
		if _, ok := cur.c.Peek(k); !ok {
			r.notify(k, true)
		}
	}
	for _, k := range cur.c.Keys() {
		n, _ := cur.c.Peek(k)
		if o, ok := old.c.Peek(k); !ok || o.Value.version != n.Value.version {
			r.notify(k, false)
		}
	}
}

// onTick notices drops of the subscription and a silent server.
func (r *Replica) onTick(l *syncLoop) {
	st := r.sub.Stats()
	if lost := st.Dropped + st.Missed; lost != l.lost {
		l.lost = lost
		if l.live || l.dl != nil {
			r.countGap()
			r.resync(l)
		}
	}
	// A copy held, in sequence or being resynchronised, turns stale
	// when the server is silent; before a first copy there is nothing
	// to call stale.
	r.mu.Lock()
	defer r.mu.Unlock()
	if l.synced && r.st.State != ReplicaStale && time.Since(r.st.LastHeard) > r.deadAfter(l) {
		r.setState(ReplicaStale)
	}
}

// deadAfter is the silence after which the server is taken for dead.
func (r *Replica) deadAfter(l *syncLoop) time.Duration {
	switch {
	case r.cfg.deadAfter > 0:
		return r.cfg.deadAfter
	case l.interval > 0:
		return defaultDeadHeartbeats * l.interval
	}
	return defaultDeadAfter
}

func (r *Replica) countGap() {
	r.mu.Lock()
	r.st.Gaps++
	r.mu.Unlock()
}

func (r *Replica) countEpoch() {
	r.mu.Lock()
	r.st.EpochChanges++
	r.mu.Unlock()
}

func (r *Replica) countMalformed() {
	r.mu.Lock()
	r.st.Malformed++
	r.mu.Unlock()
}
