package consensus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
)

// Defaults of the transport's options.
const (
	// DefaultTransportPrefix prefixes the names of the transport's
	// services: "raft.append", "raft.heartbeat", ...
	DefaultTransportPrefix = "raft"
	// DefaultRPCTimeout bounds AppendEntries, RequestVote,
	// RequestPreVote and TimeoutNow calls.
	DefaultRPCTimeout = 2 * time.Second
	// DefaultHeartbeatTimeout bounds a heartbeat call.
	DefaultHeartbeatTimeout = time.Second
	// DefaultSnapshotTimeout is the fixed part of an InstallSnapshot's
	// deadline; DefaultSnapshotRate adds one second for every so many
	// bytes of the snapshot.
	DefaultSnapshotTimeout = 10 * time.Second
	DefaultSnapshotRate    = 4 << 20
	// DefaultPipelineDepth is how many AppendEntries a leader keeps in
	// flight to one follower: none, as pipelining did not raise
	// throughput in BenchmarkTransportApply (see WithPipelineDepth).
	DefaultPipelineDepth = 0
	// maxPipelineDepth is the deepest pipeline the default append pool
	// admits.
	maxPipelineDepth = 8
)

// ErrBadTransportOption is returned by NewTransport for an option whose
// argument is out of range.
var ErrBadTransportOption = errors.New("consensus: bad transport option")

// TransportOption configures a Transport; see NewTransport.
type TransportOption func(*transportConfig) error

type transportConfig struct {
	prefix           string
	rpcTimeout       time.Duration
	heartbeatTimeout time.Duration
	snapTimeout      time.Duration
	snapRate         int64
	heartbeatLimits  core.ServiceLimits
	appendLimits     core.ServiceLimits
	voteLimits       core.ServiceLimits
	streamOpts       []core.StreamOption
	pipelineDepth    int
}

func defaultTransportConfig() transportConfig {
	return transportConfig{
		prefix:           DefaultTransportPrefix,
		rpcTimeout:       DefaultRPCTimeout,
		heartbeatTimeout: DefaultHeartbeatTimeout,
		snapTimeout:      DefaultSnapshotTimeout,
		snapRate:         DefaultSnapshotRate,
		// Heartbeats answer in microseconds; a few handlers keep them
		// moving while a new leader's and an old one's overlap.
		heartbeatLimits: core.ServiceLimits{Concurrency: 4, Queue: 32},
		// A leader's pipelined requests may arrive in any order and wait
		// on the follower for their predecessors: every one of them in
		// flight needs a handler (ConnConcurrency at least the pipeline
		// depth), or the later ones could hold all the handlers their
		// predecessor needs.
		appendLimits: core.ServiceLimits{Concurrency: 12, Queue: 32, ConnConcurrency: maxPipelineDepth},
		voteLimits:   core.ServiceLimits{Concurrency: 4, Queue: 32},
		// Two snapshots at once at most (an old and a new leader), one
		// per caller connection.
		streamOpts:    []core.StreamOption{core.StreamLimits(2, 1)},
		pipelineDepth: DefaultPipelineDepth,
	}
}

// WithTransportPrefix names the transport's services prefix+".append",
// prefix+".heartbeat", prefix+".vote", prefix+".prevote",
// prefix+".timeout" and prefix+".snapshot", so that several raft groups
// can share one peer. Every member of a group must use the same prefix.
// Default DefaultTransportPrefix ("raft").
func WithTransportPrefix(prefix string) TransportOption {
	return func(c *transportConfig) error {
		if prefix == "" || strings.ContainsAny(prefix, " \t\r\n") {
			return fmt.Errorf("%w: prefix %q", ErrBadTransportOption, prefix)
		}
		c.prefix = prefix
		return nil
	}
}

// WithRPCTimeout bounds each AppendEntries, RequestVote, RequestPreVote
// and TimeoutNow call (heartbeats have their own, see
// WithHeartbeatCallTimeout). Default DefaultRPCTimeout (2 s).
func WithRPCTimeout(d time.Duration) TransportOption {
	return func(c *transportConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: rpc timeout %v", ErrBadTransportOption, d)
		}
		c.rpcTimeout = d
		return nil
	}
}

// WithHeartbeatCallTimeout bounds each heartbeat call. Keep it below
// raft's HeartbeatTimeout. Default DefaultHeartbeatTimeout (1 s).
func WithHeartbeatCallTimeout(d time.Duration) TransportOption {
	return func(c *transportConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: heartbeat timeout %v", ErrBadTransportOption, d)
		}
		c.heartbeatTimeout = d
		return nil
	}
}

// WithSnapshotTimeout sets an InstallSnapshot's deadline to base plus
// one second per bytesPerSecond of the snapshot's size: the slowest
// transfer rate tolerated. Defaults DefaultSnapshotTimeout (10 s) and
// DefaultSnapshotRate (4 MiB/s), so 256 MiB may take 74 s.
func WithSnapshotTimeout(base time.Duration, bytesPerSecond int64) TransportOption {
	return func(c *transportConfig) error {
		if base <= 0 || bytesPerSecond <= 0 {
			return fmt.Errorf("%w: snapshot timeout %v at %d B/s", ErrBadTransportOption, base, bytesPerSecond)
		}
		c.snapTimeout, c.snapRate = base, bytesPerSecond
		return nil
	}
}

// WithTransportLimits sets the handler pools (see core.ServiceLimits)
// of the heartbeat service, of the append service and of the vote,
// prevote and timeout services (each its own pool with these limits).
// Each must have a positive Concurrency, and the append pool must let
// one caller run as many requests as the pipeline depth (its
// ConnConcurrency, or when zero three quarters of its Concurrency; see
// WithPipelineDepth). Defaults: Concurrency 4 and Queue 32 for the
// heartbeat and vote pools; Concurrency 12, ConnConcurrency 8 and Queue
// 32 for the append pool.
func WithTransportLimits(heartbeat, appendEntries, vote core.ServiceLimits) TransportOption {
	return func(c *transportConfig) error {
		for _, l := range []core.ServiceLimits{heartbeat, appendEntries, vote} {
			if l.Concurrency <= 0 || l.Queue < 0 || l.ConnConcurrency < 0 || l.ConnQueue < 0 {
				return fmt.Errorf("%w: limits %+v", ErrBadTransportOption, l)
			}
		}
		c.heartbeatLimits, c.appendLimits, c.voteLimits = heartbeat, appendEntries, vote
		return nil
	}
}

// WithSnapshotStreamOptions passes options to the snapshot service's
// core.HandleStream (chunk size, window, idle timeout), after the
// transport's own core.StreamLimits(2, 1); repeating it adds to them.
// Default: core's stream defaults (1 MiB chunks, a window of 4).
func WithSnapshotStreamOptions(opts ...core.StreamOption) TransportOption {
	return func(c *transportConfig) error {
		for _, o := range opts {
			if o == nil {
				return fmt.Errorf("%w: nil stream option", ErrBadTransportOption)
			}
		}
		c.streamOpts = append(c.streamOpts, opts...)
		return nil
	}
}

// WithPipelineDepth sets how many AppendEntries a leader keeps in
// flight to one follower (see Transport.AppendEntriesPipeline), 0 to 64;
// with 0 raft waits for each AppendEntries before sending the next
// (and batches the entries that arrive meanwhile into it). Between
// members in one process (BenchmarkTransportApply, 64 clients) depths 4
// and 8 gave no more writes/s than none and a higher median latency;
// a pipeline may pay off where round trips are long, between hosts. It may not exceed the requests one caller may run at
// once in the append pool (WithTransportLimits); NewTransport checks.
// Default DefaultPipelineDepth (0, off).
func WithPipelineDepth(n int) TransportOption {
	return func(c *transportConfig) error {
		if n < 0 || n > 64 {
			return fmt.Errorf("%w: pipeline depth %d", ErrBadTransportOption, n)
		}
		c.pipelineDepth = n
		return nil
	}
}

// connConcurrency is how many requests of one caller's connection l
// runs at once (core.ServiceLimits' default when ConnConcurrency is 0).
func connConcurrency(l core.ServiceLimits) int {
	if l.ConnConcurrency > 0 {
		return l.ConnConcurrency
	}
	return max(1, l.Concurrency*3/4)
}

// check validates the options together.
func (c *transportConfig) check() error {
	if n := connConcurrency(c.appendLimits); c.pipelineDepth > n {
		return fmt.Errorf("%w: pipeline depth %d beyond the %d append requests a caller may run", ErrBadTransportOption, c.pipelineDepth, n)
	}
	return nil
}
