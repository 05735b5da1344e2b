package spec

import (
	"fmt"
	"slices"
	"strings"
)

// ScaleCase is a measurement of how a cost grows with the size of a
// deployment: callers of one provider, subscribers of one publisher,
// nodes in a registry, topics of one node. Scale cases run zmp only.
type ScaleCase string

// Scale cases, in the order they are run and reported.
const (
	// ScaleCallers is one echo provider with N connected callers, each
	// a peer of its own with one call in flight: total calls/s and the
	// provider's RSS per connection.
	ScaleCallers ScaleCase = "callers"
	// ScaleSubscribers is one 64 B publisher with N subscribers, each a
	// peer of its own: total msgs/s delivered and the publisher's RSS
	// per subscriber.
	ScaleSubscribers ScaleCase = "subscribers"
	// ScaleRegistryDir is a directory registry holding N nodes: a fresh
	// caller's time to its first call, and `zmptool list nodes`.
	ScaleRegistryDir ScaleCase = "registry-dir"
	// ScaleRegistryNode is the same against a registry node.
	ScaleRegistryNode ScaleCase = "registry-node"
	// ScaleTopics is one node advertising N topics: the time to
	// advertise them, its RSS per topic, and a fresh subscriber's time
	// to its first message on one of them.
	ScaleTopics ScaleCase = "topics"
)

// ScaleCases lists every scale case in run order.
var ScaleCases = []ScaleCase{ScaleCallers, ScaleSubscribers, ScaleRegistryDir, ScaleRegistryNode, ScaleTopics}

// Metrics of the scale cases, besides CallsPerSec, MsgsPerSec and the
// peak RSS of both sides.
const (
	// RSSPerConnKiB is the provider's (publisher's) resident set with
	// N callers (subscribers) connected, less the same with none, ÷ N.
	RSSPerConnKiB = "rss_per_conn_kib"
	// RSSPerConnLoadKiB is the same, sampled in the middle of the window.
	RSSPerConnLoadKiB = "rss_per_conn_loaded_kib"
	// FirstCallMs is the median time from a fresh caller's NewPeer to
	// the reply of its first call, the provider found in the registry.
	FirstCallMs = "first_call_ms"
	// ListNodesMs is the median wall time of a `zmptool list nodes`
	// process against the registry.
	ListNodesMs = "list_nodes_ms"
	// PublishAdvertiseMs is the time from a node's first Publish on
	// each of N topics (which advertises them in the background) until
	// its registry entry lists them all.
	PublishAdvertiseMs = "publish_advertise_ms"
	// AdvertiseMs is the time a node takes to call Advertise on N
	// topics one by one (measured up to 3,000: it is quadratic).
	AdvertiseMs = "advertise_ms"
	// AdvertiseAllMs is the time of one Advertise call given all N
	// topics: one registry write.
	AdvertiseAllMs = "advertise_all_ms"
	// RSSPerTopicKiB is the node's resident set growth per topic.
	RSSPerTopicKiB = "rss_per_topic_kib"
	// FirstMsgMs is the median time from a fresh subscriber's NewPeer
	// to its first message on the last topic advertised.
	FirstMsgMs = "first_msg_ms"
)

// ScaleSizes returns the sizes a case is run at: full, or reduced for
// --quick so that a smoke run stays short.
func ScaleSizes(c ScaleCase, quick bool) []int {
	switch c {
	case ScaleCallers:
		return pick(quick, []int{1, 100}, []int{1, 100, 1000})
	case ScaleSubscribers:
		return pick(quick, []int{1, 16}, []int{1, 16, 256})
	case ScaleRegistryDir, ScaleRegistryNode:
		return pick(quick, []int{10, 100}, []int{10, 100, 1000})
	case ScaleTopics:
		return pick(quick, []int{1, 1000}, []int{1, 100, 1000, 3000, 10000})
	}
	return nil
}

func pick(quick bool, q, full []int) []int {
	if quick {
		return q
	}
	return full
}

// ScaleMetrics lists the metrics a scale case reports, headline first.
func ScaleMetrics(c ScaleCase) []string {
	switch c {
	case ScaleCallers:
		return []string{CallsPerSec, RSSPerConnKiB, RSSPerConnLoadKiB}
	case ScaleSubscribers:
		return []string{MsgsPerSec, RSSPerConnKiB, RSSPerConnLoadKiB}
	case ScaleRegistryDir, ScaleRegistryNode:
		return []string{FirstCallMs, ListNodesMs}
	case ScaleTopics:
		return []string{PublishAdvertiseMs, AdvertiseAllMs, AdvertiseMs, RSSPerTopicKiB, FirstMsgMs}
	}
	return nil
}

// Group is the chart panel a case is drawn in: the two registries share
// one.
func (c ScaleCase) Group() string {
	if c == ScaleRegistryDir || c == ScaleRegistryNode {
		return "registry"
	}
	return string(c)
}

// Series names the case within its group's panel.
func (c ScaleCase) Series() string {
	switch c {
	case ScaleRegistryDir:
		return "directory"
	case ScaleRegistryNode:
		return "registry node"
	}
	return "zmp"
}

// Unit says what N counts in a case.
func (c ScaleCase) Unit() string {
	switch c {
	case ScaleCallers:
		return "callers"
	case ScaleSubscribers:
		return "subscribers"
	case ScaleTopics:
		return "topics"
	}
	return "nodes"
}

// ScalePoint is one measured size of a scale case.
type ScalePoint struct {
	Case ScaleCase `json:"case"`
	Size int       `json:"size"`
}

// ID names the point uniquely: "callers-1000".
func (p ScalePoint) ID() string { return fmt.Sprintf("%s-%d", p.Case, p.Size) }

// ScaleMatrix returns every point of the given cases, in run order.
func ScaleMatrix(cases []ScaleCase, quick bool) []ScalePoint {
	var out []ScalePoint
	for _, c := range ScaleCases {
		if !slices.Contains(cases, c) {
			continue
		}
		for _, n := range ScaleSizes(c, quick) {
			out = append(out, ScalePoint{Case: c, Size: n})
		}
	}
	return out
}

// ParseScale reads a comma-separated list of scale cases: "all" for
// every one, "none" or "" for none, "registry" for both registries.
func ParseScale(s string) ([]ScaleCase, error) {
	var out []ScaleCase
	for _, f := range strings.Split(s, ",") {
		switch f = strings.TrimSpace(f); f {
		case "", "none":
		case "all":
			out = append(out, ScaleCases...)
		case "registry":
			out = append(out, ScaleRegistryDir, ScaleRegistryNode)
		default:
			if !slices.Contains(ScaleCases, ScaleCase(f)) {
				return nil, fmt.Errorf("unknown scale case %q (callers, subscribers, registry, registry-dir, registry-node, topics, all, none)", f)
			}
			out = append(out, ScaleCase(f))
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ParseScaleCase checks one scale case name.
func ParseScaleCase(s string) (ScaleCase, error) {
	c := ScaleCase(s)
	if !slices.Contains(ScaleCases, c) {
		return "", fmt.Errorf("unknown scale case %q", s)
	}
	return c, nil
}

// ScaleLowerIsBetter reports whether smaller values of a scale metric
// are better: every one but the rates.
func ScaleLowerIsBetter(metric string) bool {
	return metric != CallsPerSec && metric != MsgsPerSec
}

// PerUnit reports whether a scale metric is a cost per unit of size
// (per connection, per topic) rather than a total: a per-unit cost
// that stays constant is a total that grows linearly.
func PerUnit(metric string) bool {
	switch metric {
	case RSSPerConnKiB, RSSPerConnLoadKiB, RSSPerTopicKiB:
		return true
	}
	return false
}

// ScaleLabel describes a scale metric with its unit.
func ScaleLabel(c ScaleCase, metric string) string {
	switch metric {
	case CallsPerSec:
		return "calls/s, all callers"
	case MsgsPerSec:
		return "msgs/s delivered, all subscribers"
	case RSSPerConnKiB:
		if c == ScaleSubscribers {
			return "publisher RSS per subscriber, connected, KiB"
		}
		return "provider RSS per connection, connected, KiB"
	case RSSPerConnLoadKiB:
		if c == ScaleSubscribers {
			return "publisher RSS per subscriber, under load, KiB"
		}
		return "provider RSS per connection, under load, KiB"
	case FirstCallMs:
		return "fresh caller: NewPeer to first reply, ms"
	case ListNodesMs:
		return "zmptool list nodes, ms"
	case PublishAdvertiseMs:
		return "first Publish on each until all listed, ms"
	case AdvertiseMs:
		return "Advertise one by one, ms (N ≤ 3,000)"
	case AdvertiseAllMs:
		return "one Advertise of all N, ms"
	case RSSPerTopicKiB:
		return "node RSS per topic, KiB"
	case FirstMsgMs:
		return "fresh subscriber: NewPeer to first message, ms"
	}
	return metric
}
