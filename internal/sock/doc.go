// Package sock builds zmp's sockets on internal/zmtp connections:
// endpoints (tcp:// and ipc://), a hardened listener, a Link (one
// connection with a bounded send queue, a batching writer, a reader and
// optional heartbeats), a Router (request side of RPC servers), a Pub
// (topic fan-out with per-subscriber queues) and a Session (a dialled
// Link that reconnects).
//
// # Lifecycle
//
// Every type here that starts goroutines has a Close that is idempotent
// and returns only after those goroutines have exited.
//
// # Errors
//
// ErrClosed is returned after Close; ErrQueueFull when a bounded queue
// refuses a message; ErrBadEndpoint for an endpoint that does not parse.
package sock
