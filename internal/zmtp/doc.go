// Package zmtp implements the ZeroMQ Message Transport Protocol 3.1
// (RFC 37/ZMTP) as zmp uses it: the greeting, the NULL security
// mechanism, command and message framing, READY metadata and
// PING/PONG heartbeats.
//
// It exists because go-zeromq/zmq4 v0.17.0 panics on malformed input,
// blocks its accept loop on silent peers and cannot enforce a maximum
// message size before allocating (see docs/design.md). Everything here
// treats the peer as hostile: every length is checked against a limit
// before memory is allocated for it, and every parse error is returned,
// never panicked.
//
// # Lifecycle
//
// A Conn is made by Handshake on an established net.Conn. One goroutine
// may call ReadMessage at a time; WriteMessage, Flush and the automatic
// PONG replies are serialised internally. Close closes the net.Conn.
//
// # Errors
//
// Decoding failures wrap ErrProtocol; a message over the configured
// limit returns ErrTooLarge; a peer of an incompatible socket type
// returns ErrIncompatible. After any read error the Conn is unusable.
package zmtp
