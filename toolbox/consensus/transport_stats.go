package consensus

import "sync/atomic"

// TransportStats are a Transport's counters, reported under
// "consensus.transport" in its peer's zmp.stats (with ".prefix" added
// for a prefix other than the default).
type TransportStats struct {
	// Per RPC kind, both directions.
	Heartbeat  RPCStats `json:"heartbeat"`
	Append     RPCStats `json:"append"`
	Vote       RPCStats `json:"vote"`
	PreVote    RPCStats `json:"prevote"`
	TimeoutNow RPCStats `json:"timeout_now"`
	Snapshot   RPCStats `json:"snapshot"`
	// HeartbeatFast counts heartbeats given to raft's heartbeat handler
	// rather than the consumer channel.
	HeartbeatFast uint64 `json:"heartbeat_fast"`
	// Pipelines counts the AppendEntries pipelines opened (see
	// WithPipelineDepth).
	Pipelines uint64 `json:"pipelines"`
	// BadRequests counts requests that did not decode (refused with
	// core.CodeBadRequest).
	BadRequests uint64 `json:"bad_requests"`
	// Snapshot bytes sent to followers and received from leaders.
	SnapshotBytesOut int64 `json:"snapshot_bytes_out"`
	SnapshotBytesIn  int64 `json:"snapshot_bytes_in"`
}

// RPCStats count one kind of RPC.
type RPCStats struct {
	Sent     uint64 `json:"sent"`     // calls made
	Failed   uint64 `json:"failed"`   // calls that returned an error
	Received uint64 `json:"received"` // requests served
}

type rpcCounters struct{ sent, failed, received atomic.Uint64 }

func (c *rpcCounters) load() RPCStats {
	return RPCStats{Sent: c.sent.Load(), Failed: c.failed.Load(), Received: c.received.Load()}
}

type transportCounters struct {
	heartbeat, append, vote, preVote, timeoutNow, snapshot rpcCounters
	heartbeatFast, bad, pipelines                          atomic.Uint64
	snapshotBytesOut, snapshotBytesIn                      atomic.Int64
}

// Stats returns the transport's counters.
func (t *Transport) Stats() TransportStats {
	s := &t.stats
	return TransportStats{
		Heartbeat: s.heartbeat.load(), Append: s.append.load(), Vote: s.vote.load(),
		PreVote: s.preVote.load(), TimeoutNow: s.timeoutNow.load(), Snapshot: s.snapshot.load(),
		HeartbeatFast: s.heartbeatFast.Load(), BadRequests: s.bad.Load(), Pipelines: s.pipelines.Load(),
		SnapshotBytesOut: s.snapshotBytesOut.Load(), SnapshotBytesIn: s.snapshotBytesIn.Load(),
	}
}
