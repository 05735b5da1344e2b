package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Security secures every socket of a peer at once: the listeners of its
// services and topics (as a server), the connections it dials to call
// and subscribe (as a client), and its registry connection. Build one
// with Curve, Plain or NullAuth and pass it to WithSecurity. The zero
// value is no security: the NULL mechanism, everyone admitted.
//
// All nodes that talk to each other must use the same mechanism.
type Security struct {
	mechanism      string
	keys           KeyPair
	user, password string
	auth           *Authenticator
}

// Curve is CURVE (RFC 26 CurveZMQ): every connection is encrypted and
// both ends authenticated by their long-term keys. keys is this node's
// key pair; its public key is published in the registry, so that its
// callers and subscribers know whom they dial. auth decides which
// clients get in and, on the client side, which servers this node
// trusts: both by the same key rules (see Authenticator).
func Curve(keys KeyPair, auth *Authenticator) Security {
	return Security{mechanism: zmtp.MechanismCurve, keys: keys, auth: auth}
}

// Plain is PLAIN (RFC 24): the node logs in to the nodes it dials as
// user with password, and auth checks the credentials of the nodes
// that dial it. PLAIN sends the password in clear text and does not
// encrypt: use it only where the network is trusted, and prefer Curve.
func Plain(user, password string, auth *Authenticator) Security {
	return Security{mechanism: zmtp.MechanismPlain, user: user, password: password, auth: auth}
}

// NullAuth keeps the NULL mechanism (no encryption, no credentials) and
// applies auth's address rules to the peers that connect.
func NullAuth(auth *Authenticator) Security {
	return Security{mechanism: zmtp.MechanismNull, auth: auth}
}

// Mechanism returns "NULL", "PLAIN" or "CURVE".
func (s Security) Mechanism() string {
	if s.mechanism == "" {
		return zmtp.MechanismNull
	}
	return s.mechanism
}

// PublicKey returns the CURVE public key, or the zero Key.
func (s Security) PublicKey() Key { return s.keys.Public }

// Authenticator returns the authenticator, or nil.
func (s Security) Authenticator() *Authenticator { return s.auth }

func (s Security) validate() error {
	switch s.Mechanism() {
	case zmtp.MechanismNull:
		return nil
	case zmtp.MechanismPlain:
		if s.user == "" || len(s.user) > 255 || len(s.password) > 255 {
			return errors.New("core: Plain: user must be 1 to 255 bytes and password at most 255")
		}
	case zmtp.MechanismCurve:
		want, err := KeyPairFromSecret(s.keys.Secret)
		if err != nil || s.keys.Secret.IsZero() || want.Public != s.keys.Public {
			return errors.New("core: Curve: the key pair is not a valid pair (use GenerateKeyPair or LoadKeyPair)")
		}
	default:
		return fmt.Errorf("core: unknown security mechanism %q", s.mechanism)
	}
	if s.auth == nil {
		return fmt.Errorf("core: %s needs an Authenticator (NewAuthenticator)", s.Mechanism())
	}
	return nil
}

// WithSecurity secures all of a node's sockets and its registry
// connection. Default: none (NULL, everyone admitted).
func WithSecurity(s Security) Option {
	return func(c *config) error {
		if err := s.validate(); err != nil {
			return err
		}
		c.security = s
		return nil
	}
}

// Errors of secured connections.
var (
	// ErrDenied reports that a server refused our credentials.
	ErrDenied = errors.New("core: authentication refused")
	// ErrUntrusted reports a CURVE server this node does not trust: its
	// registry entry has no key, or a key our Authenticator does not allow.
	ErrUntrusted = errors.New("core: server not trusted")
)

// server returns the zmtp settings of this node's listeners.
func (s Security) server() zmtp.Security {
	z := zmtp.Security{Mechanism: s.Mechanism(), Server: true, PublicKey: zmtp.Key(s.keys.Public), SecretKey: zmtp.Key(s.keys.Secret)}
	if s.auth != nil {
		z.Auth = authAdapter{s.auth}
	}
	return z
}

// client returns the zmtp settings for dialling a server whose
// registry entry announces key (Z85, empty when it announced none).
func (s Security) client(key string) (zmtp.Security, error) {
	z := zmtp.Security{Mechanism: s.Mechanism(), Username: s.user, Password: s.password}
	if s.Mechanism() != zmtp.MechanismCurve {
		return z, nil
	}
	if key == "" {
		return z, fmt.Errorf("%w: it announces no CURVE key", ErrUntrusted)
	}
	k, err := ParseKey(key)
	if err != nil {
		return z, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	if !s.auth.TrustsServer(k) {
		return z, fmt.Errorf("%w: key %s is not allowed", ErrUntrusted, k)
	}
	z.PublicKey, z.SecretKey, z.ServerKey = zmtp.Key(s.keys.Public), zmtp.Key(s.keys.Secret), zmtp.Key(k)
	return z, nil
}

// clientDial returns the ZMTP client settings and dialer for a server
// announcing key: when the server cannot be trusted, a dialer that
// always fails with the reason, so the connection reports it.
func (c *config) clientDial(key string) (zmtp.Security, sock.DialFunc) {
	z, err := c.security.client(key)
	if err != nil {
		return z, func(context.Context, string, string) (net.Conn, error) { return nil, err }
	}
	return z, c.dial
}

type authAdapter struct{ a *Authenticator }

func (a authAdapter) Authenticate(r zmtp.AuthRequest) (string, error) {
	return a.a.Authenticate(AuthRequest{Mechanism: r.Mechanism, Address: r.Address, Username: r.Username, Password: r.Password, ClientKey: Key(r.ClientKey)})
}

// securityError maps a zmtp handshake error to core's sentinels.
func securityError(err error) error {
	if errors.Is(err, zmtp.ErrDenied) && !errors.Is(err, ErrDenied) {
		return fmt.Errorf("%w: %w", ErrDenied, err)
	}
	return err
}

// isSecurityError reports a handshake that failed on security grounds
// (refused credentials, a key we do not trust, a mechanism mismatch, a
// box that did not open): retrying the same peer will not help.
func isSecurityError(err error) bool {
	return err != nil && (errors.Is(err, zmtp.ErrDenied) || errors.Is(err, ErrUntrusted) ||
		errors.Is(err, zmtp.ErrMechanism) || errors.Is(err, zmtp.ErrCrypto))
}

// splitKeyedAddress splits "tcp://host:port?key=Z85" into the endpoint
// and the key; an address without "?key=" has no key.
func splitKeyedAddress(addr string) (endpoint, key string) {
	if i := strings.Index(addr, "?key="); i >= 0 {
		return addr[:i], addr[i+len("?key="):]
	}
	return addr, ""
}
