package proxy

import (
	"errors"
	"fmt"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/internal/zmtp"
)

// A proxy's sockets are secured with the same core.Security a zmp node
// takes (core.Curve, core.Plain, core.NullAuth), turned into socket
// settings by core.Security.ServerSocket and ClientSocket: the one
// place where this package meets core's security.

// sideSecurity is the security chosen for each socket of a proxy, and
// for the connection of a worker or client.
type sideSecurity struct {
	front, back       core.Security
	frontZ, backZ     zmtp.Security // their server settings
	frontSet, backSet bool          // by WithFrontendSecurity, WithBackendSecurity
}

// WithSecurity secures every socket with sec, the core.Security a zmp
// node takes: on a proxy both sides and the tap (each side can be
// overridden by WithFrontendSecurity or WithBackendSecurity), on a
// worker or client its connection. Peers must use the same mechanism:
// with CURVE every connection is encrypted and sec's Authenticator
// decides which clients get in; with PLAIN it checks their user and
// password. A peer it refuses is disconnected in the handshake and
// never reaches the proxy's queues; the proxy keeps serving the
// others. A worker or client dialling a CURVE proxy needs the proxy's
// public key in its endpoint, "tcp://host:port?key=Z85" (the form
// core nodes announce in the registry), and its Authenticator must
// trust that key, as a node trusts the providers it calls. Default:
// NULL, everyone admitted. Applies to everything.
func WithSecurity(sec core.Security) Option {
	return func(c *config) error {
		c.use("WithSecurity", kindAll)
		z, err := serverSecurity("WithSecurity", sec)
		if !c.sec.frontSet {
			c.sec.front, c.sec.frontZ = sec, z
		}
		if !c.sec.backSet {
			c.sec.back, c.sec.backZ = sec, z
		}
		return err
	}
}

// WithFrontendSecurity secures the frontend (and the tap, and a
// Forwarder's WithConnect dials, which are frontend connections) with
// sec, whatever WithSecurity says, in any order. Use it
// with WithBackendSecurity when the two sides differ, such as a CURVE
// frontend facing the network and a NULL backend on loopback or ipc.
// Default: as WithSecurity. Proxies only.
func WithFrontendSecurity(sec core.Security) Option {
	return func(c *config) error {
		c.use("WithFrontendSecurity", kindProxies)
		var err error
		c.sec.front, c.sec.frontSet = sec, true
		c.sec.frontZ, err = serverSecurity("WithFrontendSecurity", sec)
		return err
	}
}

// WithBackendSecurity secures the backend with sec, whatever
// WithSecurity says, in any order. Default: as WithSecurity. Proxies
// only.
func WithBackendSecurity(sec core.Security) Option {
	return func(c *config) error {
		c.use("WithBackendSecurity", kindProxies)
		var err error
		c.sec.back, c.sec.backSet = sec, true
		c.sec.backZ, err = serverSecurity("WithBackendSecurity", sec)
		return err
	}
}

// serverSecurity validates sec and returns the settings of a listening
// socket under it.
func serverSecurity(name string, sec core.Security) (zmtp.Security, error) {
	z, err := sec.ServerSocket()
	if err != nil {
		return z, fmt.Errorf("%w: %s: %w", ErrBadOption, name, err)
	}
	return z, nil
}

// dialSecurity splits a dialled address "endpoint[?key=Z85]" and
// returns the endpoint and the client settings for it under sec.
func dialSecurity(sec core.Security, addr string) (string, zmtp.Security, error) {
	ep, key, err := core.SplitKeyedEndpoint(addr)
	if err != nil {
		return "", zmtp.Security{}, fmt.Errorf("%w: %w", ErrBadOption, err)
	}
	z, err := sec.ClientSocket(key)
	if err != nil {
		if errors.Is(err, core.ErrUntrusted) && key.IsZero() {
			return "", zmtp.Security{}, fmt.Errorf("%w: %s: CURVE needs the server's public key, as %s?key=Z85: %w", ErrBadOption, ep, ep, err)
		}
		return "", zmtp.Security{}, fmt.Errorf("%w: %s: %w", ErrBadOption, ep, err)
	}
	return ep, z, nil
}

// sideKey returns sec's CURVE public key in Z85, or "".
func sideKey(sec core.Security) string {
	if sec.Mechanism() != zmtp.MechanismCurve {
		return ""
	}
	return sec.PublicKey().String()
}
