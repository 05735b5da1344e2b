package core

import (
	"fmt"
	"time"
)

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	node       string            // OnNode
	nodeID     string            // OnNodeID
	labels     map[string]string // Where
	target     *NodeInfo         // At
	meta       Metadata          // WithMetadata
	replyMeta  *Metadata         // ReplyMetadata
	wantReply  bool              // ReplyMetadata was given (through interceptors)
	idempotent bool              // Idempotent
	hedge      time.Duration     // Hedge; 0: none
	balancer   Balancer          // Balance; nil: the peer's
	err        error             // an option's invalid argument
}

// OnNode pins the call to the node of that name instead of spreading
// calls over every provider.
func OnNode(name string) CallOption {
	return func(o *callOptions) { o.node = name }
}

// OnNodeID pins the call to the node instance of that ID (NodeInfo.ID,
// Peer.ID): unlike OnNode, a node restarted under the same name is a
// different instance and does not get the call (ErrNoProvider).
func OnNodeID(id string) CallOption {
	return func(o *callOptions) { o.nodeID = id }
}

// Where sends the call only to providers whose labels (WithLabels)
// include every key=value of sel.
func Where(sel map[string]string) CallOption {
	return func(o *callOptions) { o.labels = sel }
}

// At sends the call straight to the node at endpoint, without looking
// it up in the registry: for peers that know each other's addresses,
// such as the members of a Raft group. endpoint is an RPC endpoint,
// tcp://host:port or ipc://path; a node secured with CURVE needs its
// public key, given as "?key=" and the key in Z85 after the endpoint,
// as Info().RPC and Info().Key give them. Deadlines, errors and security
// are those of any call. The connection is kept while it is used and
// closed after a minute idle.
func At(endpoint string) CallOption {
	return func(o *callOptions) {
		n, err := directNode(endpoint)
		if err != nil {
			o.err = err
			return
		}
		o.target = &n
	}
}

// WithMetadata sends md with the request (see Metadata). The call
// fails with ErrBadMetadata when md breaks Metadata's rules. md is
// read, not kept, and must not change during the call.
func WithMetadata(md Metadata) CallOption {
	return func(o *callOptions) {
		if err := md.Validate(); err != nil {
			o.err = err
			return
		}
		o.meta = md
	}
}

// ReplyMetadata stores in *md the metadata of the reply (or of the
// error reply), nil when the provider sent none.
func ReplyMetadata(md *Metadata) CallOption {
	return func(o *callOptions) { o.replyMeta = md }
}

// Idempotent marks a call that may run more than once without harm (a
// read, or a write that carries its own idempotency key). Such a call
// is retried on another provider after ErrConnectionLost, a provider
// that refused it (overloaded, stopping) or one that could not be
// reached, with backoff, within its deadline (WithRetry). The
// request carries MetaIdempotent, so that providers know it too.
// Calls not so marked are sent at most once.
func Idempotent() CallOption {
	return func(o *callOptions) { o.idempotent = true }
}

// Hedge sends a second copy of the call to another provider when the
// first has not answered after delay, takes whichever reply comes
// first and cancels the other ("The Tail at Scale"). It implies
// Idempotent. A delay near the service's 95th percentile latency cuts
// its tail for about 5% more requests.
func Hedge(delay time.Duration) CallOption {
	return func(o *callOptions) {
		if delay <= 0 {
			o.err = fmt.Errorf("core: Hedge delay must be positive, got %v", delay)
			return
		}
		o.hedge, o.idempotent = delay, true
	}
}

// Balance chooses this call's provider with b instead of the peer's
// balancer (WithBalancer).
func Balance(b Balancer) CallOption {
	return func(o *callOptions) {
		if b == nil {
			o.err = fmt.Errorf("core: Balance(nil)")
			return
		}
		o.balancer = b
	}
}

// encodeMeta returns the request's metadata frame: nil when the call
// has no metadata and wants none back.
func (o *callOptions) encodeMeta() ([]byte, error) {
	md := o.meta
	if o.idempotent && md.Get(MetaIdempotent) != "1" {
		md = md.Clone()
		if md == nil {
			md = Metadata{}
		}
		md[MetaIdempotent] = "1"
	}
	if md == nil && o.replyMeta == nil {
		return nil, nil
	}
	if err := md.Validate(); err != nil { // an interceptor may have changed it
		return nil, err
	}
	return encodeMeta(md), nil
}

// pinned names the node the call is pinned to, for errors.
func (o *callOptions) pinned() string {
	if o.nodeID != "" {
		return o.node + "#" + o.nodeID
	}
	return o.node
}
