package systems

import (
	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/core"
)

// zmp over CURVE: the server side makes a key pair, requires CURVE of
// every client (core.AllowAnyKey: any client key, as libzmq admits
// without a ZAP handler) and writes its public key to the measurement's
// Dir. Each client peer makes a key pair of its own and trusts the
// server's key only (core.AllowKeys), so it authenticates the server.

// zmpServerSecurity returns the options of a server peer for ep.
func zmpServerSecurity(ep Endpoint) ([]core.Option, error) {
	if ep.Security != spec.Curve {
		return nil, nil
	}
	kp, err := core.GenerateKeyPair()
	if err != nil {
		return nil, err
	}
	auth, err := core.NewAuthenticator(core.AllowAnyKey())
	if err != nil {
		return nil, err
	}
	if err := writeServerKey(ep.Dir, kp.Public.String()); err != nil {
		return nil, err
	}
	return []core.Option{core.WithSecurity(core.Curve(kp, auth))}, nil
}

// zmpClientSecurity returns the options of a client peer for ep.
func zmpClientSecurity(ep Endpoint) ([]core.Option, error) {
	if ep.Security != spec.Curve {
		return nil, nil
	}
	z85, err := readServerKey(ep.Dir)
	if err != nil {
		return nil, err
	}
	server, err := core.ParseKey(z85)
	if err != nil {
		return nil, err
	}
	kp, err := core.GenerateKeyPair()
	if err != nil {
		return nil, err
	}
	auth, err := core.NewAuthenticator(core.AllowKeys(server))
	if err != nil {
		return nil, err
	}
	return []core.Option{core.WithSecurity(core.Curve(kp, auth))}, nil
}
