// Package spec names what the comparative benchmark measures: the cases,
// their variants (transport, payload size, calls in flight,
// subscribers) and the metrics each one reports. It is shared by the
// driver, the worker processes, the system adapters and the reports.
package spec

import (
	"fmt"
	"slices"
)

// Case is one kind of measurement.
type Case string

// Cases, in the order they are run and reported.
const (
	// RTT is the round trip of one call at a time: p50, p99, p99.9.
	RTT Case = "rtt"
	// Inflight is calls per second with a fixed number of calls in flight.
	Inflight Case = "inflight"
	// PubSub is one-way messages per second delivered to one subscriber.
	PubSub Case = "pubsub"
	// Fanout is messages per second delivered in total to N subscribers.
	Fanout Case = "fanout"
	// Stalled is the peak RSS of a publisher whose one subscriber
	// never reads (its process is stopped with SIGSTOP).
	Stalled Case = "stalled"
)

// Cases lists every case in run order.
var Cases = []Case{RTT, Inflight, PubSub, Fanout, Stalled}

// Transports.
const (
	TCP = "tcp" // loopback TCP
	IPC = "ipc" // Unix domain sockets
)

// Security mechanisms of a variant.
const (
	Null  = ""      // ZMTP NULL, or the system's plain connection
	Curve = "curve" // CURVE (CurveZMQ): encrypted, the server authenticated by its key
)

// Securities lists the security mechanisms by their flag names, NULL first.
var Securities = []string{"null", Curve}

// Payload sizes.
const (
	Small = 64      // the default payload
	Large = 4 << 10 // the large pub/sub payload, also used by Stalled
	KiB   = 1 << 10 // for formatting
)

// Variant is one measured configuration of a case.
type Variant struct {
	Case      Case   `json:"case"`
	Transport string `json:"transport"`
	Size      int    `json:"size"`               // payload bytes
	Inflight  int    `json:"inflight,omitempty"` // calls in flight (RTT: 1)
	Subs      int    `json:"subs,omitempty"`     // subscribers (pub/sub cases)
	Security  string `json:"security,omitempty"` // Null or Curve
}

// IsRPC reports whether the variant is request/reply.
func (v Variant) IsRPC() bool { return v.Case == RTT || v.Case == Inflight }

// IsCurve reports whether the variant runs over CURVE.
func (v Variant) IsCurve() bool { return v.Security == Curve }

// Plain returns the variant without security: the NULL counterpart a
// CURVE variant is compared with.
func (v Variant) Plain() Variant { v.Security = Null; return v }

// ID names the variant uniquely, for JSON and progress lines: a CURVE
// variant has "-curve" before its transport ("rtt-curve/tcp").
func (v Variant) ID() string {
	sec := ""
	if v.Security != Null {
		sec = "-" + v.Security
	}
	switch v.Case {
	case Inflight:
		return fmt.Sprintf("inflight-%d%s/%s", v.Inflight, sec, v.Transport)
	case PubSub:
		return fmt.Sprintf("pubsub-%s%s/%s", SizeLabel(v.Size), sec, v.Transport)
	case Fanout:
		return fmt.Sprintf("fanout-%d%s/%s", v.Subs, sec, v.Transport)
	}
	return fmt.Sprintf("%s%s/%s", v.Case, sec, v.Transport)
}

// Title describes the variant for people, without its transport; a
// CURVE variant's ends in ", CURVE".
func (v Variant) Title() string {
	if v.IsCurve() {
		return v.Plain().Title() + ", CURVE"
	}
	switch v.Case {
	case RTT:
		return "round trip, 1 call at a time"
	case Inflight:
		if v.Inflight == 1 {
			return "1 call in flight"
		}
		return fmt.Sprintf("%d calls in flight", v.Inflight)
	case PubSub:
		return fmt.Sprintf("pub/sub %s", SizeLabel(v.Size))
	case Fanout:
		return fmt.Sprintf("fan-out to %d, %s", v.Subs, SizeLabel(v.Size))
	case Stalled:
		return fmt.Sprintf("stalled subscriber, %s", SizeLabel(v.Size))
	}
	return string(v.Case)
}

// SizeLabel formats a payload size: "64 B", "4 KiB".
func SizeLabel(n int) string {
	if n >= KiB && n%KiB == 0 {
		return fmt.Sprintf("%d KiB", n/KiB)
	}
	return fmt.Sprintf("%d B", n)
}

// Matrix returns every variant of the given cases on the given
// transports, in run order. Which variants exist:
//
//	rtt       tcp, ipc
//	inflight  1, 16, 64, 256 on tcp; 64 on ipc
//	pubsub    64 B and 4 KiB, tcp and ipc
//	fanout    1, 4, 16 subscribers, 64 B, tcp
//	stalled   4 KiB, tcp
//
// and, over CURVE, each after the NULL variants of its case: rtt on tcp,
// inflight 64 on tcp, pubsub 64 B on tcp.
func Matrix(cases []Case, transports []string) []Variant {
	var all []Variant
	for _, t := range []string{TCP, IPC} {
		all = append(all, Variant{Case: RTT, Transport: t, Size: Small, Inflight: 1})
	}
	all = append(all, Variant{Case: RTT, Transport: TCP, Size: Small, Inflight: 1, Security: Curve})
	for _, n := range []int{1, 16, 64, 256} {
		all = append(all, Variant{Case: Inflight, Transport: TCP, Size: Small, Inflight: n})
	}
	all = append(all, Variant{Case: Inflight, Transport: IPC, Size: Small, Inflight: 64},
		Variant{Case: Inflight, Transport: TCP, Size: Small, Inflight: 64, Security: Curve})
	for _, t := range []string{TCP, IPC} {
		for _, size := range []int{Small, Large} {
			all = append(all, Variant{Case: PubSub, Transport: t, Size: size, Subs: 1})
		}
	}
	all = append(all, Variant{Case: PubSub, Transport: TCP, Size: Small, Subs: 1, Security: Curve})
	for _, n := range []int{1, 4, 16} {
		all = append(all, Variant{Case: Fanout, Transport: TCP, Size: Small, Subs: n})
	}
	all = append(all, Variant{Case: Stalled, Transport: TCP, Size: Large, Subs: 1})
	return slices.DeleteFunc(all, func(v Variant) bool {
		return !slices.Contains(cases, v.Case) || !slices.Contains(transports, v.Transport)
	})
}

// ParseCase checks a case name.
func ParseCase(s string) (Case, error) {
	c := Case(s)
	if !slices.Contains(Cases, c) {
		return "", fmt.Errorf("unknown case %q (cases: rtt, inflight, pubsub, fanout, stalled)", s)
	}
	return c, nil
}

// ParseSecurity checks a security name, "null" or "curve", and returns
// the Variant.Security it stands for.
func ParseSecurity(s string) (string, error) {
	switch s {
	case "null":
		return Null, nil
	case Curve:
		return Curve, nil
	}
	return "", fmt.Errorf("unknown security %q (security: null, curve)", s)
}

// KeepSecurity returns the variants of vs whose security is one of
// secs (Variant.Security values), in order.
func KeepSecurity(vs []Variant, secs []string) []Variant {
	return slices.DeleteFunc(slices.Clone(vs), func(v Variant) bool { return !slices.Contains(secs, v.Security) })
}
