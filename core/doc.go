// Package core is the foundation of zmp: nodes, request/reply services,
// pub/sub topics and discovery, on ZeroMQ's wire protocol (ZMTP 3.1).
//
// A Node is a named piece of running code — goroutines of this process
// (NewNode) or a child process of this binary (Launcher) — with a
// Behavior of Setup, Update and Teardown functions. Every running node
// has a Peer, its presence on the network; a program that is not a node
// makes one with NewPeer. Peers provide services (Provide, Handle),
// call them (Call), publish topics (Publish) and subscribe to them
// (Subscribe). A Registry maps names to endpoints: by default a
// directory shared by every process on the host, or a registry node
// (NewRegistryServer) for several hosts.
//
// docs/guide.md is the user guide; docs/protocol.md specifies the wire
// format for clients in other languages.
//
// # Lifecycle
//
// NewPeer binds the peer's sockets and registers it; Close deregisters
// it, cancels its handlers' contexts, closes its connections and waits
// for all its goroutines. Shutdown is the graceful form; when its
// context ends first it returns the context's error. Node.Start returns
// once Setup has run and the node is registered (or, when the registry
// cannot be reached, once it serves: it registers as soon as the
// registry answers); Stop ends it gracefully within a deadline, after
// which a child process is killed; Wait returns once the node's Status
// is final, so Start may follow it at once; Restart works while running
// and after a stop; Close waits for everything the node started and is
// idempotent. Subscription.Close ends a subscription.
//
// # Calls and load
//
// A call goes to the connected provider with the fewest calls
// outstanding, providers taking turns among equals; a provider that
// owes answers and has stopped giving them, or whose connection stopped
// answering heartbeats, gets calls only when every provider is in that
// state. That is the default Balancer (LeastOutstanding); RoundRobin,
// Prefer or your own replace it (WithBalancer, Balance). OnNode, Where
// (labels) and At (an address, without the registry) narrow where a
// call may go. A call is sent at most once unless marked Idempotent,
// which lets it be retried on another provider, or hedged (Hedge). The registry is read in the background: once a call's service
// is in the peer's view of the registry, calls never wait for it, and a
// registry that cannot be reached leaves the last view in use.
//
// A provider serves each caller's connection in turn from a fixed pool
// of handlers (WithConcurrency), giving one connection at most a share
// of it (WithConnectionShare); requests beyond are answered
// CodeOverloaded. A request whose deadline passes while it waits is
// not run, and the requests of a caller that disconnects are cancelled.
// zmp's introspection services (zmp.ping, zmp.info, zmp.stats) have
// handlers of their own and answer when user services are saturated.
// Replies wait in a queue bounded by count and bytes (WithQueueBytes);
// while it is full the provider reads no more requests from that
// caller, and a caller that takes nothing for WithWriteTimeout is
// disconnected.
//
// # Seams
//
// Server interceptors (WithServerInterceptors, Intercept) wrap
// handlers; call interceptors (WithCallInterceptors) wrap calls. Both
// may answer without going further: a cache hit, a shed request.
// Metadata (a small set of headers) travels with requests and replies
// for them. docs/guide.md §10 shows toolbox-style uses.
//
// # Memory
//
// Every queue is bounded by count and by bytes, and says what it does
// when full. Bodies handed to user code (Request.Body, a Call's reply,
// Message.Data) belong to it and share memory with nothing else.
//
// # Errors
//
// Calls return ErrNoProvider, ErrTimeout (which also matches
// context.DeadlineExceeded), ErrConnectionLost, ErrTooLarge, ErrClosed,
// or a *RemoteError carrying the provider's stable Code, message and
// detail; RemoteError.Is maps codes to ErrUnknownService, ErrTooLarge,
// ErrOverloaded and ErrTimeout. Registries return ErrNameTaken,
// ErrNotFound, ErrNotOwner (a registry node's entry registered by
// another client) and ErrRegistryUnavailable. Test for all of them with
// errors.Is and errors.As.
package core
