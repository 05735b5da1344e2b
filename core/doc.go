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
// for all its goroutines. Node.Start returns once Setup has run and the
// node is registered; Stop ends it gracefully within a deadline, after
// which a child process is killed; Restart works while running and
// after a stop; Close is idempotent. Subscription.Close ends a
// subscription.
//
// # Errors
//
// Calls return ErrNoProvider, ErrTimeout (which also matches
// context.DeadlineExceeded), ErrConnectionLost, ErrTooLarge, ErrClosed,
// or a *RemoteError carrying the provider's stable Code, message and
// detail; RemoteError.Is maps codes to ErrUnknownService, ErrTooLarge,
// ErrOverloaded and ErrTimeout. Registries return ErrNameTaken and
// ErrNotFound. Test for all of them with errors.Is and errors.As.
package core
