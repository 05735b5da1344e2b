package zmtp

import (
	"bytes"
	"fmt"
)

// GreetingSize is the fixed length of a ZMTP 3.x greeting.
const GreetingSize = 64

const (
	versionMajor = 3
	versionMinor = 1
	mechanismLen = 20
)

// Greeting is the decoded 64-byte ZMTP greeting.
type Greeting struct {
	Major, Minor byte
	Mechanism    string
	AsServer     bool
}

// MarshalBinary encodes g as the 64 bytes sent on the wire.
func (g Greeting) MarshalBinary() ([]byte, error) {
	if len(g.Mechanism) == 0 || len(g.Mechanism) > mechanismLen {
		return nil, fmt.Errorf("zmtp: mechanism name %q must be 1 to 20 bytes", g.Mechanism)
	}
	b := make([]byte, GreetingSize)
	b[0] = 0xff
	b[9] = 0x7f
	b[10] = g.Major
	b[11] = g.Minor
	copy(b[12:32], g.Mechanism)
	if g.AsServer {
		b[32] = 1
	}
	return b, nil
}

// ParseGreeting decodes and validates a peer's greeting. Only ZMTP 3.x
// peers are accepted: older versions have no security handshake and
// are refused.
func ParseGreeting(b []byte) (Greeting, error) {
	if len(b) != GreetingSize {
		return Greeting{}, fmt.Errorf("%w: greeting is %d bytes, want %d", ErrProtocol, len(b), GreetingSize)
	}
	if b[0] != 0xff || b[9] != 0x7f {
		return Greeting{}, fmt.Errorf("%w: bad greeting signature", ErrProtocol)
	}
	g := Greeting{Major: b[10], Minor: b[11]}
	if g.Major < 3 {
		return Greeting{}, fmt.Errorf("%w: peer speaks ZMTP %d.%d, need 3.x", ErrProtocol, g.Major, g.Minor)
	}
	mech := b[12:32]
	if i := bytes.IndexByte(mech, 0); i >= 0 {
		if !allZero(mech[i:]) {
			return Greeting{}, fmt.Errorf("%w: mechanism name not null-padded", ErrProtocol)
		}
		mech = mech[:i]
	}
	if len(mech) == 0 {
		return Greeting{}, fmt.Errorf("%w: empty mechanism name", ErrProtocol)
	}
	for _, c := range mech {
		if !isMechanismChar(c) {
			return Greeting{}, fmt.Errorf("%w: mechanism name has byte %#x", ErrProtocol, c)
		}
	}
	g.Mechanism = string(mech)
	switch b[32] {
	case 0:
	case 1:
		g.AsServer = true
	default:
		return Greeting{}, fmt.Errorf("%w: as-server byte is %#x", ErrProtocol, b[32])
	}
	return g, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func isMechanismChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+'
}
