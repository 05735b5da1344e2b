package proxy

import "errors"

var (
	// ErrClosed is returned by operations on a proxy, worker or client
	// after Close.
	ErrClosed = errors.New("proxy: closed")
	// ErrConnectionLost is returned by a client request whose
	// connection ended before the reply came; the request may or may
	// not have run.
	ErrConnectionLost = errors.New("proxy: connection lost")
	// ErrBadOption reports an option with an invalid value, or one
	// given to a constructor it does not apply to.
	ErrBadOption = errors.New("proxy: bad option")
	// ErrBadService reports a service name that is empty, longer than
	// 255 bytes, or reserved (it starts with "mmi.").
	ErrBadService = errors.New("proxy: bad service name")
)
