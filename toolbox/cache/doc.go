// Package cache is zmp's caching toolbox: a local cache, memoization
// of services on either side of a call, invalidation over pub/sub, a
// cache server node, and replicas that keep a local copy of a cache
// server's contents.
//
// Which one to use is explained in docs/cache.md. In short:
//
//   - Cache is a local in-memory cache bounded by entries and bytes,
//     with a choice of eviction policy (LRU, 2Q, ARC), per-entry TTLs
//     and an eviction callback that also reports expiries.
//
// # Lifecycle
//
// A Cache runs one goroutine that expires entries; Close stops it and
// waits for it. Close is idempotent.
//
// # Errors
//
// Operations on closed objects return ErrClosed; entries larger than a
// cache's byte bound are refused with ErrTooLarge; options with values
// they cannot take fail the constructor with ErrBadOption.
package cache
