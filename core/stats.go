package core

import (
	"context"
	"encoding/json"
	"os"
	"runtime"
	"time"
)

// Stats is a snapshot of a peer's counters, as served by its zmp.stats
// introspection service.
type Stats struct {
	Services      map[string]ServiceStats `json:"services"`
	Topics        map[string]TopicStats   `json:"topics"`
	Subscriptions []SubscriptionInfo      `json:"subscriptions"`
	Server        ServerStats             `json:"server"`
	Client        ClientStats             `json:"client"`
	// Extra holds the statistics of the sources added with AddStats,
	// as JSON, by name; absent when there are none.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// ClientStats counts what the peer's calls did beyond one attempt.
type ClientStats struct {
	// Retries counts the pauses before an idempotent call was tried
	// again after a failure (see Idempotent and WithRetry).
	Retries uint64 `json:"retries"`
	// Hedges counts the second copies sent by hedged calls, and
	// HedgeWins those whose reply came first.
	Hedges    uint64 `json:"hedges"`
	HedgeWins uint64 `json:"hedge_wins"`
}

// ServiceStats counts the calls one service served.
type ServiceStats struct {
	Calls    uint64 `json:"calls"`
	Errors   uint64 `json:"errors"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// Refused counts requests answered CodeOverloaded: the handler pool
	// (the service's own, or the shared one) had no room for them.
	Refused uint64 `json:"refused"`
	// Limits are the limits of the service's own pool (SetServiceLimits);
	// absent when it runs in the shared pool.
	Limits *ServiceLimits `json:"limits,omitempty"`
	// Queued and Running count the requests waiting in, and running
	// from, the service's own pool now; zero in the shared pool, whose
	// waiting requests ServerStats.Queued counts.
	Queued  int `json:"queued"`
	Running int `json:"running"`
	// Streams counts the streams open on a stream service (HandleStream)
	// now; absent when none is.
	Streams int `json:"streams,omitempty"`
}

// TopicStats counts what was published on one topic. Every message
// matched to a subscriber is either delivered to its queue or dropped.
type TopicStats struct {
	Published uint64 `json:"published"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	Bytes     uint64 `json:"bytes"`
}

// SubscriptionInfo names a subscription and its counters.
type SubscriptionInfo struct {
	Topic  string `json:"topic"`
	Prefix bool   `json:"prefix"`
	SubscriptionStats
}

// ServerStats counts requests refused before reaching a handler, and
// the connections of the peer's sockets.
type ServerStats struct {
	Malformed      uint64 `json:"malformed"`
	Overloaded     uint64 `json:"overloaded"`
	UnknownService uint64 `json:"unknown_service"`
	// Expired counts requests whose caller's deadline passed while they
	// waited for a handler: answered CodeDeadlineExceeded, not run.
	Expired uint64 `json:"expired"`
	// Queued is the number of requests waiting for a handler now, in
	// the shared pool and in the services' own pools.
	Queued          int    `json:"queued"`
	RPCPeers        int    `json:"rpc_peers"`
	Subscribers     int    `json:"subscribers"`
	HandshakeFailed uint64 `json:"handshake_failed"`
	PublishDropped  uint64 `json:"publish_dropped"`
	// SubscriptionsRefused counts subscriptions refused because a
	// subscriber held the most distinct prefixes allowed (1024).
	SubscriptionsRefused uint64 `json:"subscriptions_refused"`
}

// Stats returns the peer's counters.
func (p *Peer) Stats() Stats {
	st := Stats{Services: map[string]ServiceStats{}, Topics: map[string]TopicStats{}}
	p.srv.mu.RLock()
	for name, svc := range p.srv.services {
		st.Services[name] = svc.statsNow()
	}
	p.srv.mu.RUnlock()
	p.addStreamStats(st.Services)
	p.topics.mu.RLock()
	for name, ts := range p.topics.byName {
		s := &ts.stats
		st.Topics[name] = TopicStats{Published: s.published.Load(), Delivered: s.delivered.Load(), Dropped: s.dropped.Load(), Bytes: s.bytes.Load()}
	}
	p.topics.mu.RUnlock()
	for _, sub := range *p.subs.snap.Load() {
		st.Subscriptions = append(st.Subscriptions, SubscriptionInfo{Topic: sub.pattern, Prefix: sub.prefix, SubscriptionStats: sub.Stats()})
	}
	ps := p.pub.Stats()
	queued, _ := p.srv.main.stats()
	queued += p.srv.queuedInPools()
	st.Server = ServerStats{
		Malformed: p.srv.malformed.Load(), Overloaded: p.srv.overloaded.Load(), UnknownService: p.srv.unknown.Load(),
		Expired: p.srv.expired.Load(), Queued: queued,
		RPCPeers: p.router.Peers(), Subscribers: ps.Subscribers, PublishDropped: ps.Dropped, SubscriptionsRefused: ps.Refused,
		HandshakeFailed: p.router.Listener().Stats().HandshakeFailed + p.pub.Listener().Stats().HandshakeFailed,
	}
	st.Client = ClientStats{Retries: p.cli.retries.Load(), Hedges: p.cli.hedges.Load(), HedgeWins: p.cli.hedgeWins.Load()}
	st.Extra = p.extra.snapshot()
	return st
}

// statsNow reads a service's counters, and its own pool's if it has one.
func (svc *service) statsNow() ServiceStats {
	s := &svc.stats
	ss := ServiceStats{Calls: s.calls.Load(), Errors: s.errors.Load(), BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), Refused: s.refused.Load()}
	if pl := svc.pool.Load(); pl != nil {
		ld := pl.load()
		ss.Limits, ss.Queued, ss.Running = &ld.spec, ld.queued, ld.running
	}
	return ss
}

// queuedInPools counts the requests waiting in the services' own pools.
func (s *server) queuedInPools() int {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	n := 0
	for _, pl := range s.pools {
		n += pl.load().queued
	}
	return n
}

// Introspection services every peer answers (call them with OnNode).
const (
	IntrospectPing  = "zmp.ping"  // replies {"name","id","time"}
	IntrospectInfo  = "zmp.info"  // replies InfoReply
	IntrospectStats = "zmp.stats" // replies Stats
)

// InfoReply is the reply of the zmp.info service.
type InfoReply struct {
	NodeInfo
	UptimeSeconds float64 `json:"uptime_seconds"`
	GoVersion     string  `json:"go_version"`
	Goroutines    int     `json:"goroutines"`
}

func (p *Peer) addIntrospection() {
	p.srv.addReserved(IntrospectPing, jsonHandler(func() any {
		return map[string]any{"name": p.name, "id": p.id, "time": time.Now().UTC()}
	}))
	p.srv.addReserved(IntrospectInfo, jsonHandler(func() any {
		info := p.Info()
		info.PID = os.Getpid()
		return InfoReply{NodeInfo: info, UptimeSeconds: time.Since(p.started).Seconds(), GoVersion: runtime.Version(), Goroutines: runtime.NumGoroutine()}
	}))
	p.srv.addReserved(IntrospectStats, jsonHandler(func() any { return p.Stats() }))
}

func jsonHandler(f func() any) Handler {
	return HandlerFunc(func(context.Context, *Request) ([]byte, error) { return json.Marshal(f()) })
}
