// Package systems holds one adapter per messaging system under test.
// An adapter builds the server side of a case (an echo service or a
// publisher) and the client side (a caller or a set of subscribers);
// the harness runs each side in its own process and measures.
package systems

import (
	"context"
	"fmt"
	"slices"

	"github.com/gozmp/zmp/bench/spec"
)

// Endpoint says where a server listens: on loopback TCP at a free port,
// or on a Unix socket in Dir. Dir is private to one measurement and
// shared by both of its processes.
type Endpoint struct {
	Transport string
	Dir       string
	// Security is the variant's (spec.Null or spec.Curve). Over CURVE
	// the server makes a key pair for the measurement and writes its
	// public key to Dir (writeServerKey), where the client reads it.
	Security string
}

// PubOptions configure a publisher.
type PubOptions struct {
	Size int  // payload bytes
	Subs int  // subscribers to wait for, where the system can tell
	Pace bool // slow down when the system reports drops (throughput cases)
}

// Server is the server side of a case, serving until Close.
type Server interface {
	// Addr is what the client side dials; its form is the system's.
	Addr() string
	// Stats returns counters worth reporting (drops, calls served).
	Stats() map[string]float64
	// Close stops serving and releases everything.
	Close() error
}

// Publisher is the server side of the pub/sub cases.
type Publisher interface {
	Server
	// Run publishes payload repeatedly until ctx ends, then returns nil.
	Run(ctx context.Context, payload []byte) error
}

// Caller is the client side of the request/reply cases.
type Caller interface {
	// Run keeps n calls of payload in flight until ctx ends, reporting
	// each completed call to rec. It returns nil when ctx ends.
	Run(ctx context.Context, n int, payload []byte, rec *Recorder) error
	Close() error
}

// Subscribers is the client side of the pub/sub cases: n subscribers,
// each with its own connection, counting what they receive from the
// moment they are made.
type Subscribers interface {
	// Ready returns once every subscriber is connected and subscribed,
	// as far as the system can tell.
	Ready(ctx context.Context) error
	// Counts returns the messages each subscriber received so far.
	Counts() *Counters
	// Stats returns counters worth reporting (drops, gaps).
	Stats() map[string]float64
	Close() error
}

// System is one messaging system: what it can run, and its
// constructors for this build. Skip, when set, means it cannot run at
// all in this build (its constructors are nil).
type System struct {
	Name string
	// RPC: request/reply (NewEcho, DialEcho); PubSub: NewPub, DialSubs.
	RPC, PubSub bool
	// IPC is true when the system runs over Unix sockets too.
	IPC bool
	// NoStalled excludes the stalled-subscriber case.
	NoStalled bool
	// Curve is true when the system runs the CURVE variants.
	Curve bool
	// Skip, if not empty, says why the system cannot run at all.
	Skip string
	// CurveSkip, if not empty, says why this build cannot run the CURVE
	// variants of a system that has CURVE (libzmq without libsodium).
	CurveSkip string

	NewEcho  func(ctx context.Context, ep Endpoint) (Server, error)
	DialEcho func(ctx context.Context, ep Endpoint, addr string) (Caller, error)
	NewPub   func(ctx context.Context, ep Endpoint, o PubOptions) (Publisher, error)
	DialSubs func(ctx context.Context, ep Endpoint, addr string, n int) (Subscribers, error)
}

// Unsupported returns why the system does not run v in this build, or
// "" if it does.
func (s *System) Unsupported(v spec.Variant) string {
	if s.Skip != "" {
		return s.Skip
	}
	if v.IsCurve() && s.CurveSkip != "" {
		return s.CurveSkip
	}
	return s.Capable(v)
}

// Capable returns why the system cannot run v in any build, or "" if
// it can: what a driver checks for a system whose workers run in
// another binary.
func (s *System) Capable(v spec.Variant) string {
	switch {
	case v.Transport == spec.IPC && !s.IPC:
		return "no ipc transport"
	case v.IsRPC() && !s.RPC:
		return "no request/reply"
	case !v.IsRPC() && !s.PubSub:
		return "no pub/sub"
	case v.Case == spec.Stalled && s.NoStalled:
		return "one-way throughput only"
	case v.IsCurve() && !s.Curve:
		return "no CURVE"
	}
	return ""
}

var all = []*System{zmpSystem(), tcpSystem(false), tcpSystem(true), zmq4System(), libzmqSystem(), netrpcSystem(), natsSystem()}

// Names lists every system in report order; zmp is first.
func Names() []string {
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	return names
}

// Lookup returns the system of that name.
func Lookup(name string) (*System, error) {
	i := slices.IndexFunc(all, func(s *System) bool { return s.Name == name })
	if i < 0 {
		return nil, fmt.Errorf("unknown system %q (systems: %v)", name, Names())
	}
	return all[i], nil
}
