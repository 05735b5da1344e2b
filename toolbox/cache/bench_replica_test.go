package cache

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// Replication benchmarks: one server, replicas on peers of their own,
// all in this process on loopback TCP.
//
//	go test -run '^$' -bench 'Replica' -benchtime 20000x ./toolbox/cache/

const benchReplicas = 16

// benchSecurity returns the peer options of each side: none, or CURVE
// with every peer trusting every other.
func benchSecurity(b *testing.B, curve bool, n int) [][]core.Option {
	opts := make([][]core.Option, n)
	if !curve {
		return opts
	}
	kps := make([]core.KeyPair, n)
	var pubs []core.Key
	for i := range kps {
		kps[i], _ = core.GenerateKeyPair()
		pubs = append(pubs, kps[i].Public)
	}
	for i := range kps {
		auth, err := core.NewAuthenticator(core.AllowKeys(pubs...))
		if err != nil {
			b.Fatal(err)
		}
		opts[i] = []core.Option{core.WithSecurity(core.Curve(kps[i], auth))}
	}
	return opts
}

// benchCluster is a server, a writer and replicas.
type benchCluster struct {
	srv     *Server
	srvPeer *core.Peer
	client  *Client
	peers   []*core.Peer
	reps    []*Replica
}

func newBenchCluster(b *testing.B, curve bool, nrep int, repOpts func(i int) []ReplicaOption) *benchCluster {
	b.Helper()
	reg := core.NewMemRegistry()
	sec := benchSecurity(b, curve, nrep+2)
	peer := func(name string, extra []core.Option) *core.Peer {
		p, err := core.NewPeer(context.Background(), name, append([]core.Option{core.WithRegistry(reg),
			core.WithDiscoveryInterval(50 * time.Millisecond)}, extra...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		return p
	}
	c := &benchCluster{srvPeer: peer("cache-node", sec[0])}
	s, err := NewServer(c.srvPeer, "kv", WithServerMaxEntries(1<<20), WithServerMaxBytes(1<<30))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	c.srv = s
	if c.client, err = NewClient(peer("writer", sec[1]), "kv"); err != nil {
		b.Fatal(err)
	}
	for i := range nrep {
		p := peer(fmt.Sprint("replica", i), sec[i+2])
		r, err := NewReplica(context.Background(), p, "kv", repOpts(i)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		c.peers, c.reps = append(c.peers, p), append(c.reps, r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range c.reps {
		if err := r.WaitSynced(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

// waitSeq waits until every replica is live at seq.
func (c *benchCluster) waitSeq(b *testing.B, seq uint64, d time.Duration) {
	b.Helper()
	deadline := time.Now().Add(d)
	for _, r := range c.reps {
		for st := r.Status(); st.State != ReplicaLive || st.Seq < seq; st = r.Status() {
			if time.Now().After(deadline) {
				b.Fatalf("replica at %+v, want seq %d", st, seq)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// latencies collects samples from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// BenchmarkReplicaFanout writes b.N values at 10k writes/s (and, to
// tell saturation from cost, 2k/s) through a Client and measures, on
// each of 16 replicas, the time from just before the write to the
// value being readable there (the write's send time travels in the
// value). writes/s is the rate achieved.
func BenchmarkReplicaFanout(b *testing.B) {
	for _, curve := range []bool{false, true} {
		for _, rate := range []int{10_000, 2_000} {
			name := fmt.Sprintf("%s/%dk", map[bool]string{false: "null", true: "curve"}[curve], rate/1000)
			b.Run(name, func(b *testing.B) { benchFanout(b, curve, rate) })
		}
	}
}

func benchFanout(b *testing.B, curve bool, rate int) {
	var lat, setLat, applyLat latencies
	var measuring atomic.Bool
	publishedAt := make([]atomic.Int64, b.N+1)
	self := make([]atomic.Pointer[Replica], benchReplicas)
	c := newBenchCluster(b, curve, benchReplicas, func(i int) []ReplicaOption {
		return []ReplicaOption{WithOnChange(func(key string, deleted bool) {
			r := self[i].Load()
			if deleted || r == nil || !measuring.Load() {
				return
			}
			if it, ok := r.Lookup(key); ok && len(it.Value) >= 8 {
				now := time.Now().UnixNano()
				lat.add(time.Duration(now - int64(binary.BigEndian.Uint64(it.Value))))
				if it.Version < uint64(len(publishedAt)) {
					if at := publishedAt[it.Version].Load(); at != 0 {
						applyLat.add(time.Duration(now - at))
					}
				}
			}
		})}
	})
	c.srv.mu.Lock() // the write numbered seq is published at publishedAt[seq]
	c.srv.published = func(seq uint64) {
		if seq < uint64(len(publishedAt)) {
			publishedAt[seq].Store(time.Now().UnixNano())
		}
	}
	c.srv.mu.Unlock()
	for i, r := range c.reps {
		self[i].Store(r)
	}
	measuring.Store(true)
	const writers = 32
	period := time.Second / time.Duration(rate)
	var next atomic.Int64
	var last atomic.Uint64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			val := make([]byte, 64)
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(n) * period)))
				t0 := time.Now()
				binary.BigEndian.PutUint64(val, uint64(t0.UnixNano()))
				v, err := c.client.Set(ctx, fmt.Sprint("k", n%1000), slices.Clone(val), 0)
				if err != nil {
					b.Error(err)
					return
				}
				setLat.add(time.Since(t0))
				for old := last.Load(); v > old && !last.CompareAndSwap(old, v); old = last.Load() {
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	c.waitSeq(b, last.Load(), 30*time.Second)
	b.StopTimer()
	var resyncs, gaps uint64
	for _, r := range c.reps {
		st := r.Status()
		resyncs += st.Resyncs
		gaps += st.Gaps
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "writes/s")
	b.ReportMetric(float64(lat.quantile(0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(lat.quantile(0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(setLat.quantile(0.99))/1e6, "set-p99-ms")     // the write's call alone
	b.ReportMetric(float64(applyLat.quantile(0.50))/1e6, "apply-p50-ms") // from the server's publication
	b.ReportMetric(float64(applyLat.quantile(0.99))/1e6, "apply-p99-ms")
	b.ReportMetric(float64(resyncs), "resyncs")
	b.ReportMetric(float64(gaps), "gaps")
}

// BenchmarkReplicaResync measures, with the server holding 10k entries
// of 100 bytes, the time from a lost update to every one of the 16
// replicas being live and in sequence again: the next write shows the
// gap, and each replica fetches a snapshot.
func BenchmarkReplicaResync(b *testing.B) {
	for _, curve := range []bool{false, true} {
		b.Run(map[bool]string{false: "null", true: "curve"}[curve], func(b *testing.B) {
			benchResync(b, curve)
		})
	}
}

func benchResync(b *testing.B, curve bool) {
	var dropSeq atomic.Uint64
	c := newBenchCluster(b, curve, benchReplicas, func(int) []ReplicaOption {
		return []ReplicaOption{withHooks(replicaHooks{drop: func(u update) bool {
			return u.kind != kindHeartbeat && u.seq == dropSeq.Load()
		}})}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	val := make([]byte, 100)
	var seq uint64
	for i := range 10_000 {
		v, err := c.client.Set(ctx, fmt.Sprint("key", i), val, 0)
		if err != nil {
			b.Fatal(err)
		}
		seq = v
	}
	c.waitSeq(b, seq, 30*time.Second)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		dropSeq.Store(seq + 1) // every replica loses the next write
		t0 := time.Now()
		if _, err := c.client.Set(ctx, fmt.Sprint("key", i), val, 0); err != nil {
			b.Fatal(err)
		}
		v, err := c.client.Set(ctx, fmt.Sprint("key", i+1), val, 0)
		if err != nil {
			b.Fatal(err)
		}
		seq = v
		c.waitSeq(b, seq, 30*time.Second)
		total += time.Since(t0)
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/float64(b.N)/1e6, "converge-ms")
	b.ReportMetric(0, "ns/op")
}
