// Package consensus is zmp's consensus toolbox, built on
// github.com/hashicorp/raft and core's public API: a raft transport
// over zmp, durable storage, a replicated key-value store, and a
// replicated registry (NewRegistry, OpenRegistry) for core.
//
// docs/consensus.md says what the store guarantees, how it fails and
// how it is tested; `zmptool kv` runs one from the command line. A Node runs raft with a transport and stores of the
// caller's, applies writes through the leader and serves linearizable
// reads ReadIndex-style (Stale for fast local ones); Node.Serve puts
// its key-value service on a zmp peer and Client calls it from any
// peer. The state machine:
//
//   - Keys hold byte values with etcd-like revisions: a key's CreateRev
//     and ModRev are the raft log indexes of the commands that created
//     and last changed it, and Version counts its changes. Puts,
//     deletes and compare-and-set by ModRev apply in log order.
//   - Leases group keys that go together when the lease expires or is
//     revoked. Their deadlines are in consensus time: each command
//     carries its proposer's clock, the state machine's time is the
//     largest it has applied, and expiry is itself a command, so every
//     replica removes the same keys at the same log index whatever its
//     own clock says.
//   - A bounded history of recent events lets watches resume from a
//     past revision; older ones are compacted (ErrCompacted).
//   - Snapshots encode the keys and leases in key and id order, so equal
//     states give equal snapshots; raft ships and restores them.
//
// # Errors
//
// Commands refer to leases that may be gone (ErrLeaseNotFound) or taken
// (ErrLeaseExists); watches from compacted revisions get ErrCompacted.
package consensus
