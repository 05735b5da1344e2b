package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// BenchmarkTransportApply: three members in this process with in-memory
// stores; clients apply 100-byte commands on the leader. For each
// transport (zmp without security, also with pipelines of 4 and 8, zmp
// on CURVE, and raft's own
// NetworkTransport over TCP for comparison): 64 concurrent clients
// (writes/s, p50 and p99 per apply) and a single client (p50).
//
//	go test -run XXX -bench TransportApply -benchtime 20000x ./toolbox/consensus/
func BenchmarkTransportApply(b *testing.B) {
	for _, kind := range []string{"zmp-null", "zmp-null-pipe4", "zmp-null-pipe8", "zmp-curve", "net-tcp"} {
		for _, clients := range []int{64, 1} {
			b.Run(fmt.Sprintf("%s/clients=%d", kind, clients), func(b *testing.B) {
				leader := trBenchCluster(b, kind)
				trBenchApplies(b, leader, clients)
			})
		}
	}
}

func trBenchApplies(b *testing.B, leader *raft.Raft, clients int) {
	payload := bytes.Repeat([]byte("x"), 100)
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := leader.Apply(payload, 30*time.Second).Error(); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
}

// trBenchCluster starts three members on the kind of transport and
// returns the leader once elected; everything stops at the end.
func trBenchCluster(b *testing.B, kind string) *raft.Raft {
	b.Helper()
	e := trNewEnv(b, core.TCP)
	var keys []core.KeyPair
	var pubs []core.Key
	for i := 0; i < 3; i++ {
		keys = append(keys, trKeys(b))
		pubs = append(pubs, keys[i].Public)
	}
	var rafts []*raft.Raft
	var servers []raft.Server
	for i := 0; i < 3; i++ {
		id := raft.ServerID(fmt.Sprintf("n%d", i))
		var trans raft.Transport
		switch kind {
		case "net-tcp":
			nt, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 3, 10*time.Second, hclog.NewNullLogger())
			if err != nil {
				b.Fatal(err)
			}
			trans = nt
		case "zmp-null-pipe4":
			trans = e.transport(e.peer(string(id)), WithPipelineDepth(4))
		case "zmp-null-pipe8":
			trans = e.transport(e.peer(string(id)), WithPipelineDepth(8))
		case "zmp-curve":
			trans = e.transport(e.peer(string(id), core.WithSecurity(trCurveSecurity(b, keys[i], pubs...))))
		default:
			trans = e.transport(e.peer(string(id)))
		}
		store := raft.NewInmemStore()
		r, err := raft.NewRaft(trConfig(id), &trBenchFSM{}, store, store, raft.NewInmemSnapshotStore(), trans)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Shutdown().Error() })
		rafts = append(rafts, r)
		servers = append(servers, raft.Server{ID: id, Address: trans.LocalAddr()})
	}
	if err := rafts[0].BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		b.Fatal(err)
	}
	var leader *raft.Raft
	trWaitFor(b, 60*time.Second, "a leader", func() bool {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
				return true
			}
		}
		return false
	})
	if err := leader.Barrier(30 * time.Second).Error(); err != nil && !errors.Is(err, raft.ErrLeadershipLost) {
		b.Fatal(err)
	}
	return leader
}

// trBenchFSM counts applies and snapshots nothing.
type trBenchFSM struct{ n atomic.Uint64 }

func (f *trBenchFSM) Apply(*raft.Log) any { return f.n.Add(1) }

func (f *trBenchFSM) Snapshot() (raft.FSMSnapshot, error) { return &trSnapshot{}, nil }

func (f *trBenchFSM) Restore(rc io.ReadCloser) error { return rc.Close() }
