// Package hitratio measures the hit ratio of cache eviction policies on
// deterministic synthetic traces, so that golang-lru's LRU, 2Q and ARC
// can be set next to W-TinyLFU caches (otter, ristretto) on the same
// trace and capacity (issue 11, toolbox/cache).
//
// # Traces
//
// A [Trace] is a sequence of uint64 keys. Two generators make one from a
// seed, and the same seed always gives the same trace:
//
//   - [ZipfTrace]: independent draws from a Zipf distribution with
//     exponent s (s = 1 by default) over N keys, sampled exactly by
//     inverse CDF over a precomputed cumulative table ([Zipf]); unlike
//     math/rand's Zipf it accepts s <= 1.
//   - [OLTP.Generate]: an OLTP-like mix of skewed point lookups whose hot
//     set drifts, short sequential range scans and one-time keys; the
//     model and its parameters are described on [OLTP].
//
// Keys are ranks or row numbers passed through a bijective 64-bit mixer,
// so no cache sees runs of small consecutive integers in its hash
// functions (ristretto, for one, uses a uint64 key as its own hash).
//
// # Replaying
//
// [Run] replays a trace against a [Policy] as a demand-filled cache: each
// request is a Get, and a miss is followed by an Add of the key. It counts
// hits and misses; the hit ratio is hits / requests, cold misses included.
// [Compare] runs every [Contender] on every trace and capacity and puts
// the best of each family next to the best W-TinyLFU ([Row.Gaps]).
//
// # Policies
//
// [Contenders] lists the adapters: golang-lru's LRU, 2Q and ARC, otter
// (W-TinyLFU), ristretto (TinyLFU admission with sampled-LFU eviction)
// and toolbox/cache's LRU, 2Q and ARC ([NewToolbox]).
// Capacities are in entries for every one of them. How the asynchronous
// caches are made comparable is described on [NewOtter] and
// [NewRistretto]. A cache keyed by string plugs in through [StringKeys].
//
// # Lifecycle
//
// A Policy that implements Close() is closed by [Compare] after its
// replay; callers of [Run] close their own.
//
// # Errors
//
// Generators and constructors return errors for parameters out of range;
// [Run] and [Compare] return the context's error when it ends first.
package hitratio
