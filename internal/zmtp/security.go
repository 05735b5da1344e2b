package zmtp

import (
	"errors"
	"fmt"
)

// Security mechanism names, as they appear in the greeting.
const (
	MechanismNull  = "NULL"
	MechanismPlain = "PLAIN"
	MechanismCurve = "CURVE"
)

// KeySize is the length of a CURVE public or secret key.
const KeySize = 32

// Key is a Curve25519 public or secret key.
type Key [KeySize]byte

// IsZero reports whether k is unset.
func (k Key) IsZero() bool { return k == Key{} }

// String returns k in Z85, the 40-character form libzmq and pyzmq use.
func (k Key) String() string {
	s, _ := Z85Encode(k[:])
	return s
}

// ParseKey decodes a key from its 40-character Z85 form.
func ParseKey(z85 string) (Key, error) {
	if len(z85) != 40 {
		return Key{}, fmt.Errorf("zmtp: a Z85 key is 40 characters, got %d", len(z85))
	}
	b, err := Z85DecodeString(z85)
	if err != nil {
		return Key{}, err
	}
	var k Key
	copy(k[:], b)
	return k, nil
}

// Security configures the mechanism of a connection. The zero value
// is the NULL mechanism, without authentication.
type Security struct {
	// Mechanism is MechanismNull (or ""), MechanismPlain or MechanismCurve.
	Mechanism string
	// Server selects the server role of PLAIN and CURVE: the side that
	// checks credentials. zmp's listeners are servers, its dialers clients.
	Server bool
	// Username and Password are a PLAIN client's credentials.
	Username, Password string
	// PublicKey and SecretKey are this side's long-term CURVE key pair.
	PublicKey, SecretKey Key
	// ServerKey is, for a CURVE client, the server's long-term public key.
	ServerKey Key
	// Auth decides, on a server, who gets in. It is required for a PLAIN
	// server. Without it a NULL server admits everyone and a CURVE server
	// every client that proves it holds its key (encryption without
	// client authentication).
	Auth Authenticator
	// Domain is passed to Auth, as ZAP's domain (RFC 27).
	Domain string
}

func (s Security) mechanism() string {
	if s.Mechanism == "" {
		return MechanismNull
	}
	return s.Mechanism
}

func (s Security) validate() error {
	switch s.mechanism() {
	case MechanismNull:
		return nil
	case MechanismPlain:
		if s.Server && s.Auth == nil {
			return errors.New("zmtp: a PLAIN server needs an Authenticator")
		}
		if !s.Server && (len(s.Username) > 255 || len(s.Password) > 255) {
			return errors.New("zmtp: PLAIN username and password are at most 255 bytes")
		}
		return nil
	case MechanismCurve:
		if s.PublicKey.IsZero() || s.SecretKey.IsZero() {
			return errors.New("zmtp: CURVE needs a key pair")
		}
		if !s.Server && s.ServerKey.IsZero() {
			return errors.New("zmtp: a CURVE client needs the server's public key")
		}
		return nil
	}
	return fmt.Errorf("zmtp: unknown security mechanism %q", s.Mechanism)
}

// AuthRequest is what a server knows of a peer when it decides whether
// to admit it.
type AuthRequest struct {
	Mechanism string
	Domain    string
	// Address is the peer's network address (host:port, or the socket
	// path for ipc).
	Address string
	// Username and Password are set for PLAIN.
	Username, Password string
	// ClientKey is the client's long-term public key, set for CURVE once
	// the client has proven it holds the secret key.
	ClientKey Key
}

// Authenticator decides who gets in, the role ZAP (RFC 27) plays in
// libzmq. It is called once per handshake, from the handshaking
// goroutine, so it may block briefly but must be safe for concurrent use.
type Authenticator interface {
	// Authenticate admits the peer by returning a nil error and the
	// user id to attach to the connection, or refuses it with an error.
	Authenticate(AuthRequest) (userID string, err error)
}

// PeerAuth describes how the peer of an established connection was
// admitted.
type PeerAuth struct {
	Mechanism string
	UserID    string // as returned by the Authenticator
	ClientKey Key    // CURVE: the peer's long-term public key (on a server)
}

// ErrDenied reports a peer refused by the Authenticator, or, on a
// client, a server that refused us.
var ErrDenied = errors.New("zmtp: authentication refused")

// ErrCrypto reports a CURVE box that did not open: a wrong key, a
// forged or corrupted command, or a replayed nonce.
var ErrCrypto = errors.New("zmtp: cryptographic check failed")

// authenticate runs the server's Authenticator, if any, and records
// the result; a refusal sends ERROR with ZAP's status code 400.
func (c *Conn) authenticate(sec Security, req AuthRequest) error {
	req.Mechanism, req.Domain, req.Address = sec.mechanism(), sec.Domain, remoteAddr(c.nc)
	c.auth = PeerAuth{Mechanism: req.Mechanism, ClientKey: req.ClientKey}
	if sec.Auth == nil {
		return nil
	}
	user, err := sec.Auth.Authenticate(req)
	if err != nil {
		c.sendError("400 " + "authentication refused")
		return fmt.Errorf("%w: %v", ErrDenied, err)
	}
	c.auth.UserID = user
	return nil
}

// PeerAuth returns how the peer was admitted.
func (c *Conn) PeerAuth() PeerAuth { return c.auth }

// AuthFunc adapts a function to Authenticator.
type AuthFunc func(AuthRequest) (string, error)

// Authenticate calls f.
func (f AuthFunc) Authenticate(r AuthRequest) (string, error) { return f(r) }
