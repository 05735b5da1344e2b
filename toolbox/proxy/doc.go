// Package proxy provides three ZeroMQ brokers that plain ZeroMQ peers
// (libzmq, pyzmq, zmq4) and zmp programs can use, and the Go workers
// and clients that go with them:
//
//   - Forwarder: a pub/sub broker (XSUB/XPUB). Subscriptions are
//     propagated upstream, so publishers send only topics someone
//     wants; an optional last-value cache gives a new subscriber the
//     latest message of each matching topic at once.
//   - Queue: a load-balancing broker for workers (Paranoid Pirate).
//     Requests go to the least recently used idle worker; heartbeats
//     run both ways; the request of a worker that dies is retried on
//     another one. NewWorker and QueueClient are its Go peers.
//   - Broker: a service broker (Majordomo, MDP/0.1). Workers register
//     service names, clients send by service name, requests wait in a
//     bounded queue per service, "mmi.service" answers whether a
//     service is available. NewServiceWorker and BrokerClient are its
//     Go peers.
//
// Every proxy has a tap endpoint mirroring what it receives (WithTap),
// live statistics (Stats), Pause and Resume, bounded queues with drop
// counters, and Shutdown, which drains. Malformed messages are counted
// and discarded without closing the connection; a peer that vanishes,
// even in the middle of a message, is forgotten and its work retried.
// The wire protocols, failure-detection times and statistics are
// described in docs/proxy.md.
//
// # Security
//
// Proxies, workers and clients take the core.Security a zmp node takes
// (WithSecurity): CURVE, PLAIN or NULL with an Authenticator, so a
// CURVE cluster can run its pub/sub and request traffic through them.
// Each side of a proxy may have its own (WithFrontendSecurity,
// WithBackendSecurity), such as a CURVE frontend and a NULL backend on
// loopback. A peer dialling a CURVE proxy appends the proxy's public
// key to the endpoint, "tcp://host:port?key=Z85", the form core nodes
// announce; Stats shows each side's mechanism and key. Proxies do not
// register in a zmp registry.
//
// # Lifecycle
//
// NewForwarder, NewQueue and NewBroker bind their sockets and serve
// until Close (immediate) or Shutdown (graceful: refuse new work,
// finish and write what is queued, then close, bounded by ctx).
// NewWorker, NewServiceWorker and the clients connect in the
// background and reconnect with backoff until Close. Every Close is
// idempotent and returns only after the goroutines the object started
// have exited.
//
// # Errors
//
// ErrClosed is returned after Close; ErrConnectionLost by a client
// request whose connection ended before its reply; ErrBadOption by a
// constructor given an invalid option or one that does not apply to
// it; ErrBadService for an invalid service name. Client requests that
// time out return the context's error.
package proxy
