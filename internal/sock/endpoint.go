package sock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

var (
	// ErrClosed is returned by operations on a closed socket or link.
	ErrClosed = errors.New("sock: closed")
	// ErrQueueFull is returned when a bounded send queue refuses a message.
	ErrQueueFull = errors.New("sock: send queue full")
	// ErrBadEndpoint reports an endpoint that is not tcp://host:port or ipc://path.
	ErrBadEndpoint = errors.New("sock: bad endpoint")
	// ErrHeartbeatTimeout ends a link whose peer stayed silent too long.
	ErrHeartbeatTimeout = errors.New("sock: peer missed its heartbeats")
)

// Endpoint is a parsed ZeroMQ endpoint.
type Endpoint struct {
	Network string // "tcp" or "unix"
	Address string // host:port or a socket path
}

// ParseEndpoint accepts tcp://host:port (host may be * for every
// interface) and ipc://path.
func ParseEndpoint(s string) (Endpoint, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" {
		return Endpoint{}, fmt.Errorf("%w: %q", ErrBadEndpoint, s)
	}
	switch scheme {
	case "tcp":
		host, port, err := net.SplitHostPort(rest)
		if err != nil {
			return Endpoint{}, fmt.Errorf("%w: %q: %v", ErrBadEndpoint, s, err)
		}
		if host == "*" {
			host = ""
		}
		return Endpoint{Network: "tcp", Address: net.JoinHostPort(host, port)}, nil
	case "ipc":
		return Endpoint{Network: "unix", Address: rest}, nil
	}
	return Endpoint{}, fmt.Errorf("%w: %q: scheme must be tcp or ipc", ErrBadEndpoint, s)
}

// String returns the endpoint in tcp:// or ipc:// form.
func (e Endpoint) String() string {
	if e.Network == "unix" {
		return "ipc://" + e.Address
	}
	return "tcp://" + e.Address
}

// listen opens a net.Listener. For ipc, a stale socket file left by a
// dead process is removed; a live one is reported as in use.
func listen(e Endpoint) (net.Listener, error) {
	if e.Network == "unix" {
		if err := removeStaleSocket(e.Address); err != nil {
			return nil, err
		}
	}
	return net.Listen(e.Network, e.Address)
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("sock: %s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, 200*time.Millisecond)
	if err == nil {
		c.Close()
		return fmt.Errorf("sock: ipc://%s is in use", path)
	}
	return os.Remove(path)
}

// boundEndpoint reports where l actually listens (tcp port 0 resolved).
func boundEndpoint(e Endpoint, l net.Listener) Endpoint {
	if e.Network == "unix" {
		return e
	}
	return Endpoint{Network: "tcp", Address: l.Addr().String()}
}
