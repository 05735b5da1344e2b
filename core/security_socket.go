package core

import (
	"fmt"

	"github.com/gozmp/zmp/internal/zmtp"
)

// This file is the one boundary through which the toolbox packages of
// this module that speak plain ZeroMQ on their own sockets (such as
// toolbox/proxy) secure those sockets exactly as a node secures its
// own: same mechanisms, same Authenticator, same rules for trusting a
// CURVE server. The settings returned are those of the module's
// internal ZMTP engine, so only packages of this module can use them;
// programs secure their nodes with WithSecurity.

// ServerSocket returns the ZMTP settings of a socket that binds and
// accepts peers under s, as a node's listeners do: s's Authenticator
// decides who gets in. It fails when s is not valid (see WithSecurity).
func (s Security) ServerSocket() (zmtp.Security, error) {
	if err := s.validate(); err != nil {
		return zmtp.Security{}, err
	}
	return s.server(), nil
}

// ClientSocket returns the ZMTP settings of a socket that dials a
// server under s, as a node dials a provider. For CURVE, serverKey is
// the server's public key; it must be set and s's Authenticator must
// trust it (TrustsServer), or the error wraps ErrUntrusted. PLAIN and
// NULL ignore serverKey. It fails when s is not valid.
func (s Security) ClientSocket(serverKey Key) (zmtp.Security, error) {
	if err := s.validate(); err != nil {
		return zmtp.Security{}, err
	}
	key := ""
	if !serverKey.IsZero() {
		key = serverKey.String()
	}
	return s.client(key)
}

// SplitKeyedEndpoint splits an address of the form core nodes publish
// in the registry, "tcp://host:port?key=Z85", into the endpoint and the
// server's CURVE public key. An address without "?key=" returns the
// zero Key; a malformed key is an error.
func SplitKeyedEndpoint(addr string) (endpoint string, key Key, err error) {
	endpoint, z85 := splitKeyedAddress(addr)
	if z85 == "" {
		return endpoint, Key{}, nil
	}
	if key, err = ParseKey(z85); err != nil {
		return "", Key{}, fmt.Errorf("%w in %q", err, addr)
	}
	return endpoint, key, nil
}

// KeyedEndpoint is the inverse of SplitKeyedEndpoint: endpoint with
// "?key=Z85" appended, or endpoint alone when key is zero.
func KeyedEndpoint(endpoint string, key Key) string {
	if key.IsZero() {
		return endpoint
	}
	return endpoint + "?key=" + key.String()
}
