// Package cache is zmp's caching toolbox: a local cache, memoization
// of services on either side of a call, invalidation over pub/sub, a
// cache server node, and replicas that keep a local copy of a cache
// server's contents. docs/cache.md explains which to use when.
//
//   - Cache (New) is a local in-memory cache bounded by entries and,
//     exactly, by bytes, with golang-lru's LRU, 2Q or ARC eviction,
//     per-entry TTLs, and an eviction callback that also reports
//     expiries.
//   - Memo (NewMemo) answers identical calls from a cache: Memo.Server
//     is a core.ServerInterceptor for providers, Memo.Client a
//     core.CallInterceptor for callers. Concurrent misses of one key run
//     the service once, with per-caller cancellation; core's
//     cache-control metadata steers it per call.
//   - Invalidations (PublishInvalidation, Listen, Memo.Attach) drop
//     keys or prefixes in every memo or cache listening on a topic,
//     ordered against the fills running when they arrive.
//   - Server (NewServer) is a key-value cache service on a peer, run by
//     `zmptool cache serve`: get, set with TTL, delete, compare-and-set
//     by version, stats; Client (NewClient) calls it. It publishes every
//     write, in order, for replicas.
//   - Replica (NewReplica) keeps a local copy of a server's contents:
//     a snapshot, then the server's sequenced updates; it resynchronises
//     by itself after a gap, a server restart or a slow-consumer drop.
//
// Every long-lived kind reports its counters through its peer's
// zmp.stats (core.Peer.AddStats), so `zmptool info NODE` shows them,
// and has a Resize method a feedback loop can turn at run time where
// it has bounds.
//
// # Lifecycle
//
// A Cache runs one goroutine that expires entries; a Memo the fills of
// its callers and its invalidation listeners; a Server a heartbeat and
// an expiry publisher; a Replica its synchronisation. Close stops each
// and waits for its goroutines, and is idempotent. A Server or Replica
// does not own its peer: closing the peer is the caller's business.
//
// # Errors
//
// Operations on closed objects return ErrClosed; entries larger than a
// cache's byte bound are refused with ErrTooLarge; options with values
// they cannot take fail the constructor with ErrBadOption. A Client
// maps the server's remote errors back to ErrNotFound,
// ErrVersionMismatch and ErrTooLarge (errors.As still finds the
// *core.RemoteError, with CodeVersionMismatch or CodeValueTooLarge).
package cache
