package zmtp

import "errors"

var (
	// ErrProtocol reports bytes from the peer that violate ZMTP.
	ErrProtocol = errors.New("zmtp: protocol violation")
	// ErrTooLarge reports a message or frame larger than the configured maximum.
	ErrTooLarge = errors.New("zmtp: message too large")
	// ErrIncompatible reports a peer whose socket type cannot talk to ours.
	ErrIncompatible = errors.New("zmtp: incompatible socket type")
	// ErrMechanism reports a peer that asked for a security mechanism we do not run.
	ErrMechanism = errors.New("zmtp: security mechanism mismatch")
	// ErrPeerError reports an ERROR command sent by the peer.
	ErrPeerError = errors.New("zmtp: peer sent ERROR")
)
