package proxy

import (
	"sync/atomic"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/internal/sock"
)

// SideStats counts the traffic of one side of a proxy.
type SideStats struct {
	// Endpoint is where the side listens.
	Endpoint string `json:"endpoint"`
	// Peers is the number of connections on this side now.
	Peers int `json:"peers"`
	// MsgsIn and BytesIn count messages received from this side's
	// peers (heartbeats and subscriptions included); bytes are frame
	// bodies.
	MsgsIn  uint64 `json:"msgs_in"`
	BytesIn uint64 `json:"bytes_in"`
	// MsgsOut and BytesOut count messages queued for this side's peers.
	MsgsOut  uint64 `json:"msgs_out"`
	BytesOut uint64 `json:"bytes_out"`
	// Dropped counts messages for this side's peers that were
	// discarded: the peer's send queue was full or it was gone.
	Dropped uint64 `json:"dropped"`
	// Malformed counts messages from this side that did not follow the
	// protocol; they were discarded and the connection kept.
	Malformed uint64 `json:"malformed"`
	// Mechanism is the side's security mechanism: "NULL", "PLAIN" or
	// "CURVE" (see WithSecurity).
	Mechanism string `json:"mechanism,omitempty"`
	// Key is the side's CURVE public key in Z85, which its peers need
	// to dial it; empty for the other mechanisms.
	Key string `json:"key,omitempty"`
	// HandshakeFailed counts connections closed before they were
	// through the handshake: refused by the Authenticator, speaking
	// another mechanism, holding the wrong keys, or too slow.
	HandshakeFailed uint64 `json:"handshake_failed"`
}

// ServiceStats describes one service of a Broker.
type ServiceStats struct {
	Name    string `json:"name"`
	Workers int    `json:"workers"`
	Idle    int    `json:"idle"`
	Queued  int    `json:"queued"`
}

// Stats is a snapshot of a proxy's state and counters. Fields that do
// not apply to a kind of proxy are zero.
type Stats struct {
	Kind     string    `json:"kind"` // "forwarder", "queue" or "broker"
	Paused   bool      `json:"paused"`
	Draining bool      `json:"draining"`
	Frontend SideStats `json:"frontend"`
	Backend  SideStats `json:"backend"`
	// Queued is the number of requests waiting for a worker (Queue,
	// Broker), or of publications held while paused (Forwarder).
	Queued int `json:"queued"`
	// Refused counts input turned away: the pending limit was reached
	// or the proxy was draining.
	Refused uint64 `json:"refused"`

	// Forwarder: distinct subscription prefixes held by subscribers,
	// and topics in the last-value cache.
	Subscriptions int `json:"subscriptions,omitempty"`
	Cached        int `json:"cached,omitempty"`

	// Queue and Broker: workers connected and registered, those idle,
	// requests being worked on, requests sent again after their worker
	// died, requests given up on, workers lost (disconnected or
	// silent past the heartbeat liveness) while registered.
	Workers  int            `json:"workers"`
	Idle     int            `json:"idle"`
	InFlight int            `json:"in_flight"`
	Retried  uint64         `json:"retried"`
	Failed   uint64         `json:"failed"`
	Lost     uint64         `json:"lost"`
	Services []ServiceStats `json:"services,omitempty"`
}

// sideCounters are the live counters behind a SideStats.
type sideCounters struct {
	msgsIn, bytesIn, msgsOut, bytesOut, dropped, malformed atomic.Uint64
}

func size(frames [][]byte) uint64 {
	var n int
	for _, f := range frames {
		n += len(f)
	}
	return uint64(n)
}

func (s *sideCounters) in(frames [][]byte) {
	s.msgsIn.Add(1)
	s.bytesIn.Add(size(frames))
}

func (s *sideCounters) out(frames [][]byte) {
	s.msgsOut.Add(1)
	s.bytesOut.Add(size(frames))
}

// snapshot reads the counters of a side listening on ln (nil for a
// Broker without a backend) under sec.
func (s *sideCounters) snapshot(ln *sock.Listener, sec core.Security, peers int) SideStats {
	st := SideStats{
		Peers:  peers,
		MsgsIn: s.msgsIn.Load(), BytesIn: s.bytesIn.Load(),
		MsgsOut: s.msgsOut.Load(), BytesOut: s.bytesOut.Load(),
		Dropped: s.dropped.Load(), Malformed: s.malformed.Load(),
	}
	if ln != nil {
		st.Endpoint, st.HandshakeFailed = ln.Endpoint(), ln.Stats().HandshakeFailed
		st.Mechanism, st.Key = sec.Mechanism(), sideKey(sec)
	}
	return st
}

// send queues frames on l without waiting and counts the result on
// side. It reports whether the message was queued.
func send(l *sock.Link, frames [][]byte, side *sideCounters) bool {
	if l == nil {
		side.dropped.Add(1)
		return false
	}
	dropped, err := l.TrySend(frames, sock.DropNewest)
	if dropped || err != nil {
		side.dropped.Add(1)
		return false
	}
	side.out(frames)
	return true
}
