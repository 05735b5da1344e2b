package core

import "context"

// ServerInterceptor runs around the handler of every call to a service,
// as middleware does around an HTTP handler. It sees the request (its
// service, body, metadata, deadline, and the caller's identity in
// Request.User and Request.ClientKey) and may answer it without calling
// next: from a cache, or with NewError(CodeOverloaded, ...) to shed it.
// It may set Request.ReplyMeta. A panic in an interceptor is answered
// like a handler's, with CodePanic, and the node keeps serving.
type ServerInterceptor func(ctx context.Context, req *Request, next Handler) ([]byte, error)

// Intercept returns h wrapped in interceptors, the first given
// outermost: Intercept(h, a, b) runs a, which calls b, which calls h.
// Give the result to Peer.Handle to intercept one service; a peer's
// WithServerInterceptors run outside these. With no interceptors it
// returns h itself.
func Intercept(h Handler, interceptors ...ServerInterceptor) Handler {
	for i := len(interceptors) - 1; i >= 0; i-- {
		h = intercepted{f: interceptors[i], next: h}
	}
	return h
}

type intercepted struct {
	f    ServerInterceptor
	next Handler
}

func (h intercepted) ServeRPC(ctx context.Context, req *Request) ([]byte, error) {
	return h.f(ctx, req, h.next)
}

// CallInfo is one outgoing call as call interceptors see it. An
// interceptor may change Service, Body, Meta, Node and Idempotent
// before it calls next; Body is the caller's and must not be modified
// in place (replace it instead). ReplyMeta holds the reply's metadata
// once next returns, when the provider sent some: a provider answers
// with metadata only to a request that carries some, so an interceptor
// that wants the reply's sets Meta, to an empty Metadata if it has
// nothing to send.
type CallInfo struct {
	Service    string
	Body       []byte
	Meta       Metadata // sent with the request; nil for none
	ReplyMeta  Metadata
	Node       string // the node the call is pinned to (OnNode); "" for any
	Idempotent bool   // the call may run twice (Idempotent, Hedge): it may be retried

	opts callOptions // the rest of the call's options
}

// Invoker sends a call: the next interceptor, or the peer itself.
type Invoker func(ctx context.Context, call *CallInfo) ([]byte, error)

// CallInterceptor runs around every call a peer makes (WithCallInterceptors):
// a client-side cache, a concurrency limiter, metrics or tracing. It
// may answer without calling next. The reply it returns belongs to the
// caller, as Call's does.
type CallInterceptor func(ctx context.Context, call *CallInfo, next Invoker) ([]byte, error)

// chainCalls builds the invoker that runs interceptors, first given
// outermost, around last.
func chainCalls(interceptors []CallInterceptor, last Invoker) Invoker {
	next := last
	for i := len(interceptors) - 1; i >= 0; i-- {
		f, n := interceptors[i], next
		next = func(ctx context.Context, c *CallInfo) ([]byte, error) { return f(ctx, c, n) }
	}
	return next
}
