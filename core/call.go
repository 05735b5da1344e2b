package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Call sends body to service and returns the reply body. Providers are
// found in the registry and chosen by the peer's balancer (see the
// package documentation), or selected by OnNode, Where or At. body is
// copied before Call returns; the reply belongs to the caller and
// shares no memory with other messages.
// The call ends by ctx's deadline, or after the peer's call timeout
// when ctx has none. A call marked Idempotent is retried on another
// provider after a lost connection or a refusal (WithRetry); others
// are sent at most once. Errors: ErrNoProvider, ErrTimeout (which also
// matches context.DeadlineExceeded), ErrConnectionLost, ErrTooLarge,
// ErrClosed, ErrBadMetadata, or a *RemoteError from the provider.
func (p *Peer) Call(ctx context.Context, service string, body []byte, opts ...CallOption) ([]byte, error) {
	if err := checkName(service); err != nil {
		return nil, err
	}
	if p.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if len(opts) == 0 && p.invoker == nil {
		var o callOptions // not given to options: stays on the stack
		return p.send(ctx, service, body, &o)
	}
	if p.invoker == nil {
		var o callOptions
		for _, opt := range opts {
			opt(&o)
		}
		if o.err != nil {
			return nil, o.err
		}
		return p.send(ctx, service, body, &o)
	}
	ci := &CallInfo{Service: service, Body: body} // the options live in it: one allocation
	o := &ci.opts
	for _, opt := range opts {
		opt(o)
	}
	if o.err != nil {
		return nil, o.err
	}
	ci.Meta, ci.Node, ci.Idempotent = o.meta, o.node, o.idempotent
	replyTo := o.replyMeta
	reply, err := p.invoker(ctx, ci)
	if replyTo != nil {
		*replyTo = ci.ReplyMeta
	}
	return reply, err
}

// invokeLast is the end of the call interceptors' chain: it sends the
// call as they left it. The reply's metadata is asked for when the
// caller asked (ReplyMetadata) or the call carries metadata.
func (p *Peer) invokeLast(ctx context.Context, ci *CallInfo) ([]byte, error) {
	if err := checkName(ci.Service); err != nil {
		return nil, err
	}
	o := &ci.opts
	want := o.replyMeta != nil || o.wantReply || ci.Meta != nil
	o.node, o.meta, o.idempotent, o.replyMeta, o.wantReply = ci.Node, ci.Meta, ci.Idempotent, nil, want
	ci.ReplyMeta = nil
	if want {
		o.replyMeta = &ci.ReplyMeta
	}
	return p.send(ctx, ci.Service, ci.Body, o)
}

// send sends one call, after its options and interceptors are applied.
func (p *Peer) send(ctx context.Context, service string, body []byte, o *callOptions) ([]byte, error) {
	meta, err := o.encodeMeta()
	if err != nil {
		return nil, err
	}
	if int64(len(body)+len(meta)) > p.cfg.maxMessageSize-requestOverhead(service) {
		return nil, fmt.Errorf("%w: request of %d bytes, limit %d", ErrTooLarge, len(body)+len(meta), p.cfg.maxMessageSize)
	}
	// Without a deadline in ctx the call timeout applies. It is kept as
	// a plain time, enforced by the client's sweeper, so that a call
	// costs no timer of its own.
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(p.cfg.callTimeout)
	}
	reply, err := p.cli.call(ctx, &outCall{start: start, deadline: deadline, service: service, body: body, meta: meta, o: *o})
	if err != nil {
		return nil, callError(ctx, service, start, err)
	}
	return reply, nil
}

func requestOverhead(service string) int64 { return int64(4*32 + headerLen + len(service)) }

// callError turns a context error into ErrTimeout and decorates remote errors.
func callError(ctx context.Context, service string, start time.Time, err error) error {
	if errors.Is(err, errExpired) || (errors.Is(err, context.DeadlineExceeded) && ctx.Err() == context.DeadlineExceeded) {
		return &timeoutError{service: service, after: time.Since(start).Round(time.Millisecond), cause: err}
	}
	return err
}

// timeoutError matches both ErrTimeout and context.DeadlineExceeded.
type timeoutError struct {
	service string
	after   time.Duration
	cause   error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("core: call to %q timed out after %v (%v)", e.service, e.after, e.cause)
}

// Unwrap gives the cause, so that ErrNotSent shows through.
func (e *timeoutError) Unwrap() error { return e.cause }

func (e *timeoutError) Is(target error) bool {
	return target == ErrTimeout || target == context.DeadlineExceeded
}

// errExpired ends a call whose deadline passed while its context,
// which had none of its own, is still live.
var errExpired = fmt.Errorf("core: call deadline passed: %w", context.DeadlineExceeded)

// timeoutMS is what a request tells the provider about the deadline.
func timeoutMS(deadline time.Time) uint32 {
	ms := time.Until(deadline).Milliseconds()
	return uint32(min(max(ms, 1), math.MaxUint32))
}

// Call is the typed form of Peer.Call: req is encoded and the reply
// decoded with the peer's codec.
func Call[Resp any](ctx context.Context, p *Peer, service string, req any, opts ...CallOption) (Resp, error) {
	var resp Resp
	body, err := p.cfg.codec.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("core: encoding request to %q: %w", service, err)
	}
	reply, err := p.Call(ctx, service, body, opts...)
	if err != nil {
		return resp, err
	}
	if err := p.cfg.codec.Unmarshal(reply, &resp); err != nil {
		return resp, fmt.Errorf("core: decoding reply from %q: %w", service, err)
	}
	return resp, nil
}

// Provide is the typed form of Peer.Handle: requests are decoded into
// Req and results encoded with the peer's codec. A request that does
// not decode is answered with CodeBadRequest.
func Provide[Req, Resp any](p *Peer, service string, f func(ctx context.Context, req Req) (Resp, error)) error {
	codec := p.cfg.codec
	return p.HandleFunc(service, func(ctx context.Context, r *Request) ([]byte, error) {
		var req Req
		if err := codec.Unmarshal(r.Body, &req); err != nil {
			return nil, NewError(CodeBadRequest, "decoding %s request: %v", codec.Name(), err)
		}
		resp, err := f(ctx, req)
		if err != nil {
			return nil, err
		}
		return codec.Marshal(resp)
	})
}
