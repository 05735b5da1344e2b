package consensus

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The measured goals, in one run: three nodes in this process
// on durable storage (the default backend), 100-byte values, writes
// through Node.Put on the leader from 64 clients and from one, and
// linearizable reads from 64 clients; on the zmp transport with CURVE
// and on raft's NetworkTransport over TCP.
//
//	go test -run '^$' -bench BenchmarkKV -benchtime 20000x ./toolbox/consensus/
func BenchmarkKV(b *testing.B) {
	for _, kind := range []string{"zmp-curve", "zmp-curve-pipe8", "net-tcp"} {
		b.Run(kind+"/writes/clients=64", func(b *testing.B) { kvBenchWrites(b, kvBenchLeader(b, kind), 64) })
		b.Run(kind+"/writes/clients=1", func(b *testing.B) { kvBenchWrites(b, kvBenchLeader(b, kind), 1) })
		b.Run(kind+"/reads/clients=64", func(b *testing.B) { kvBenchReads(b, kvBenchLeader(b, kind), 64) })
	}
}

// kvBenchLeader starts a cluster and returns its leader.
func kvBenchLeader(b *testing.B, kind string) *Node {
	b.Helper()
	switch kind {
	case "zmp-curve":
		return newKVCluster(b, 3).leader().node
	case "zmp-curve-pipe8":
		return newKVCluster(b, 3, WithPipelineDepth(8)).leader().node
	}
	var nodes []*Node
	var servers []raft.Server
	var trans []*raft.NetworkTransport
	for i := range 3 {
		nt, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, hclog.NewNullLogger())
		if err != nil {
			b.Fatal(err)
		}
		trans = append(trans, nt)
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint("n", i)), Address: nt.LocalAddr()})
	}
	for i, nt := range trans {
		st, err := OpenStore(filepath.Join(b.TempDir(), "data"))
		if err != nil {
			b.Fatal(err)
		}
		nd, err := NewNode(NodeConfig{ID: fmt.Sprint("n", i), Transport: nt, Logs: st.Log(), Stable: st.Stable(),
			Snapshots: st.Snapshots(), Raft: trConfig(raft.ServerID(fmt.Sprint("n", i))), Bootstrap: servers})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nd.Close(); st.Close() })
		nodes = append(nodes, nd)
	}
	var l *Node
	trWaitFor(b, 60*time.Second, "a leader", func() bool {
		for _, nd := range nodes {
			if nd.IsLeader() {
				l = nd
				return true
			}
		}
		return false
	})
	return l
}

// kvBenchRun runs b.N calls of op from clients goroutines and reports
// ops/s, p50 and p99.
func kvBenchRun(b *testing.B, clients int, unit string, op func(ctx context.Context, i int64) error) {
	ctx := context.Background()
	var next atomic.Int64
	lats := make([][]time.Duration, clients)
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
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
		b.Fatal(err)
	}
	all := slices.Concat(lats...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1e3, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1e3, "p99-ms")
}

func kvBenchWrites(b *testing.B, l *Node, clients int) {
	val := make([]byte, 100)
	kvBenchRun(b, clients, "writes/s", func(ctx context.Context, i int64) error {
		_, err := l.Put(ctx, fmt.Sprint("key", i%1000), val, 0)
		return err
	})
}

func kvBenchReads(b *testing.B, l *Node, clients int) {
	ctx := context.Background()
	for i := range 1000 {
		if _, err := l.Put(ctx, fmt.Sprint("key", i), make([]byte, 100), 0); err != nil {
			b.Fatal(err)
		}
	}
	kvBenchRun(b, clients, "reads/s", func(ctx context.Context, i int64) error {
		_, _, err := l.Get(ctx, fmt.Sprint("key", i%1000))
		return err
	})
}
