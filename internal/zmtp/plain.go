package zmtp

import (
	"fmt"
	"strings"
)

// PLAIN (RFC 24/ZMTP-PLAIN): the client sends its credentials in clear
// text in HELLO, the server checks them with its Authenticator and
// answers WELCOME or ERROR, then INITIATE and READY carry the metadata.
// PLAIN authenticates but does not encrypt: use it on trusted networks
// only, or prefer CURVE.

func (c *Conn) plainClient(cfg Config) error {
	sec := cfg.Security
	hello := make([]byte, 0, 2+len(sec.Username)+len(sec.Password))
	hello = append(hello, byte(len(sec.Username)))
	hello = append(hello, sec.Username...)
	hello = append(hello, byte(len(sec.Password)))
	hello = append(hello, sec.Password...)
	if err := c.writeHandshake(CmdHello, hello); err != nil {
		return err
	}
	welcome, err := c.expectCommand(CmdWelcome)
	if err != nil {
		return err
	}
	if len(welcome) != 0 {
		return fmt.Errorf("%w: PLAIN WELCOME with a %d-byte body", ErrProtocol, len(welcome))
	}
	meta, err := readyMetadata(cfg)
	if err != nil {
		return err
	}
	if err := c.writeHandshake(CmdInitiate, meta); err != nil {
		return err
	}
	ready, err := c.expectCommand(CmdReady)
	if err != nil {
		return err
	}
	c.auth = PeerAuth{Mechanism: MechanismPlain}
	return c.acceptPeerMetadata(cfg, ready)
}

func (c *Conn) plainServer(cfg Config) error {
	hello, err := c.expectCommand(CmdHello)
	if err != nil {
		return err
	}
	user, pass, err := parsePlainHello(hello)
	if err != nil {
		return err
	}
	if err := c.authenticate(cfg.Security, AuthRequest{Username: user, Password: pass}); err != nil {
		return err
	}
	if err := c.writeHandshake(CmdWelcome, nil); err != nil {
		return err
	}
	initiate, err := c.expectCommand(CmdInitiate)
	if err != nil {
		return err
	}
	if err := c.acceptPeerMetadata(cfg, initiate); err != nil {
		return err
	}
	meta, err := readyMetadata(cfg)
	if err != nil {
		return err
	}
	return c.writeHandshake(CmdReady, meta)
}

// parsePlainHello splits a PLAIN HELLO body: a length-prefixed
// username, then a length-prefixed password, and nothing after.
func parsePlainHello(b []byte) (user, pass string, err error) {
	if len(b) < 1 || 1+int(b[0]) >= len(b) {
		return "", "", fmt.Errorf("%w: PLAIN HELLO truncated in the username", ErrProtocol)
	}
	ulen := int(b[0])
	user = string(b[1 : 1+ulen])
	rest := b[1+ulen:]
	if 1+int(rest[0]) != len(rest) {
		return "", "", fmt.Errorf("%w: PLAIN HELLO password length %d, %d bytes left", ErrProtocol, rest[0], len(rest)-1)
	}
	return user, string(rest[1:]), nil
}

// handshakeError interprets an ERROR received during the handshake. A
// reason starting with ZAP's status code 400 (what zmp and libzmq send
// when their authenticator refuses a peer) is a refusal: ErrDenied.
// Other reasons are ErrPeerError only.
func handshakeError(reason string) error {
	if strings.HasPrefix(reason, "400") {
		return fmt.Errorf("%w (%w: %s)", ErrDenied, ErrPeerError, reason)
	}
	return fmt.Errorf("%w: %s", ErrPeerError, reason)
}
