//go:build libzmq

package systems

import (
	"errors"

	zmq "github.com/pebbe/zmq4"

	"github.com/gozmp/zmp/bench/spec"
)

// libzmq over CURVE: the server socket (ROUTER, PUB) gets a key pair
// made for the measurement and requires CURVE; with no ZAP handler,
// libzmq admits any client key. Its public key goes to the
// measurement's Dir. Each client socket (DEALER, SUB) gets a key pair of
// its own and the server's public key, so it authenticates the server.

// libzmqCurveSkip says why this libzmq cannot run the CURVE variants,
// or "" if it can: CURVE needs libzmq built with libsodium (Debian's is).
func libzmqCurveSkip() string {
	if zmq.HasCurve() {
		return ""
	}
	return "skipped: this libzmq has no CURVE (built without libsodium)"
}

// libzmqCurveServer makes s a CURVE server when ep asks for it. It must
// run before s binds.
func libzmqCurveServer(s *zmq.Socket, ep Endpoint) error {
	if ep.Security != spec.Curve {
		return nil
	}
	public, secret, err := zmq.NewCurveKeypair()
	if err != nil {
		return err
	}
	if err := errors.Join(s.SetCurveServer(1), s.SetCurveSecretkey(secret)); err != nil {
		return err
	}
	return writeServerKey(ep.Dir, public)
}

// libzmqServerKey returns the server's public key when ep asks for
// CURVE, "" otherwise.
func libzmqServerKey(ep Endpoint) (string, error) {
	if ep.Security != spec.Curve {
		return "", nil
	}
	return readServerKey(ep.Dir)
}

// libzmqCurveClient makes s a CURVE client of the server with public
// key serverKey, unless serverKey is "". It must run before s connects.
func libzmqCurveClient(s *zmq.Socket, serverKey string) error {
	if serverKey == "" {
		return nil
	}
	public, secret, err := zmq.NewCurveKeypair()
	if err != nil {
		return err
	}
	return errors.Join(s.SetCurveServerkey(serverKey), s.SetCurvePublickey(public), s.SetCurveSecretkey(secret))
}
