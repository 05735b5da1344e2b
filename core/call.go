package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	node string
}

// OnNode pins the call to the node of that name instead of spreading
// calls over every provider.
func OnNode(name string) CallOption {
	return func(o *callOptions) { o.node = name }
}

// Call sends body to service and returns the reply body. Providers are
// found in the registry and chosen by load (see the package
// documentation), or pinned by OnNode. body is copied before Call
// returns; the reply belongs to the caller and shares no memory with
// other messages.
// The call ends by ctx's deadline, or after the peer's call timeout
// when ctx has none. Errors: ErrNoProvider, ErrTimeout (which also
// matches context.DeadlineExceeded), ErrConnectionLost, ErrTooLarge,
// ErrClosed, or a *RemoteError from the provider.
func (p *Peer) Call(ctx context.Context, service string, body []byte, opts ...CallOption) ([]byte, error) {
	if err := checkName(service); err != nil {
		return nil, err
	}
	if p.ctx.Err() != nil {
		return nil, ErrClosed
	}
	if int64(len(body)) > p.cfg.maxMessageSize-requestOverhead(service) {
		return nil, fmt.Errorf("%w: request of %d bytes, limit %d", ErrTooLarge, len(body), p.cfg.maxMessageSize)
	}
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	// Without a deadline in ctx the call timeout applies. It is kept as
	// a plain time, enforced by the client's sweeper, so that a call
	// costs no timer of its own.
	start := time.Now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = start.Add(p.cfg.callTimeout)
	}
	reply, err := p.cli.call(ctx, start, deadline, service, body, o)
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
