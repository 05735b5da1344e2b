package consensus

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// stBenchCache is the log cache size the benchmarks compare with none.
const stBenchCache = 512

// BenchmarkStoreRaft measures the store choice: 3 raft nodes in one
// process over raft's NetworkTransport on 127.0.0.1, each on its own
// Store, applying 100-byte commands through the leader from 1 or 64
// concurrent clients, for each backend with and without the log cache.
// It reports writes/s and the p50 and p99 latency of Apply (until the
// entry is committed on a majority and applied on the leader).
//
//	go test -run '^$' -bench BenchmarkStoreRaft -benchtime 3000x ./toolbox/consensus/
func BenchmarkStoreRaft(b *testing.B) {
	for _, clients := range []int{64, 1} {
		for _, backend := range stBackends() {
			for _, cache := range []int{0, stBenchCache} {
				name := fmt.Sprintf("clients=%d/backend=%v/cache=%d", clients, backend, cache)
				b.Run(name, func(b *testing.B) {
					leader, stop := stBenchCluster(b, backend, cache)
					defer stop()
					stBenchApply(b, leader, clients)
				})
			}
		}
	}
}

// stBenchApply runs b.N applies from clients goroutines and reports the
// figures.
func stBenchApply(b *testing.B, leader *raft.Raft, clients int) {
	payload := make([]byte, 100)
	var next atomic.Int64
	lats := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := leader.Apply(payload, 30*time.Second).Error(); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatalf("Apply: %v", err)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(stPercentile(all, 0.50).Seconds()*1e3, "p50-ms")
	b.ReportMetric(stPercentile(all, 0.99).Seconds()*1e3, "p99-ms")
}

func stPercentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(p*float64(len(sorted)-1))]
}

// stBenchCluster starts 3 raft nodes over TCP on 127.0.0.1, each on a
// fresh Store, and returns the leader and a function stopping them all.
func stBenchCluster(b *testing.B, backend Backend, cache int) (*raft.Raft, func()) {
	b.Helper()
	var (
		rafts  []*raft.Raft
		transs []*raft.NetworkTransport
		stores []*Store
	)
	stop := func() {
		for _, r := range rafts {
			r.Shutdown().Error()
		}
		for _, tr := range transs {
			tr.Close()
		}
		for _, s := range stores {
			s.Close()
		}
	}
	var servers []raft.Server
	dir := b.TempDir()
	for i := range 3 {
		s, err := OpenStore(filepath.Join(dir, fmt.Sprint(i)), WithBackend(backend), WithLogCache(cache))
		if err != nil {
			stop()
			b.Fatal(err)
		}
		stores = append(stores, s)
		tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, 10*time.Second, io.Discard)
		if err != nil {
			stop()
			b.Fatal(err)
		}
		transs = append(transs, tr)
		id := fmt.Sprintf("n%d", i)
		servers = append(servers, raft.Server{ID: raft.ServerID(id), Address: tr.LocalAddr()})
		r, err := raft.NewRaft(stRaftConfig(id), &stCounterFSM{}, s.Log(), s.Stable(), s.Snapshots(), tr)
		if err != nil {
			stop()
			b.Fatal(err)
		}
		rafts = append(rafts, r)
	}
	if err := rafts[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		stop()
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for rafts[0].State() != raft.Leader {
		if time.Now().After(deadline) {
			stop()
			b.Fatal("no leader in 60 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return rafts[0], stop
}

// BenchmarkStoreGetLog measures what the log cache saves: reading back
// one of the last 64 entries, as a leader does for each follower it
// replicates to, with and without the cache.
//
//	go test -run '^$' -bench BenchmarkStoreGetLog ./toolbox/consensus/
func BenchmarkStoreGetLog(b *testing.B) {
	for _, backend := range stBackends() {
		for _, cache := range []int{0, stBenchCache} {
			b.Run(fmt.Sprintf("backend=%v/cache=%d", backend, cache), func(b *testing.B) {
				s := stOpen(b, b.TempDir(), WithBackend(backend), WithLogCache(cache))
				const n = 1024
				for i := uint64(1); i <= n; i += 8 {
					var batch []*raft.Log
					for j := i; j < i+8; j++ {
						batch = append(batch, stLog(j))
					}
					stMust(b, s.Log().StoreLogs(batch))
				}
				var l raft.Log
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					if err := s.Log().GetLog(n-uint64(i%64), &l); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
