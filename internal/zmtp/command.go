package zmtp

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Command names zmp sends or understands.
const (
	CmdReady     = "READY"
	CmdError     = "ERROR"
	CmdPing      = "PING"
	CmdPong      = "PONG"
	CmdSubscribe = "SUBSCRIBE"
	CmdCancel    = "CANCEL"
	CmdHello     = "HELLO"
	CmdWelcome   = "WELCOME"
	CmdInitiate  = "INITIATE"
	CmdMessage   = "MESSAGE"
)

// Command is one decoded command frame.
type Command struct {
	Name string
	Body []byte
}

// ParseCommand splits a command frame into its name and body.
func ParseCommand(frame []byte) (Command, error) {
	if len(frame) == 0 {
		return Command{}, fmt.Errorf("%w: empty command frame", ErrProtocol)
	}
	n := int(frame[0])
	if n == 0 || 1+n > len(frame) {
		return Command{}, fmt.Errorf("%w: command name length %d in %d-byte frame", ErrProtocol, n, len(frame))
	}
	name := frame[1 : 1+n]
	for _, c := range name {
		if c < 0x21 || c > 0x7e {
			return Command{}, fmt.Errorf("%w: command name has byte %#x", ErrProtocol, c)
		}
	}
	return Command{Name: string(name), Body: frame[1+n:]}, nil
}

func (c Command) appendTo(dst []byte) []byte {
	dst = append(dst, byte(len(c.Name)))
	dst = append(dst, c.Name...)
	return append(dst, c.Body...)
}

// Metadata is the property list carried by READY (and by PLAIN and
// CURVE handshake commands). Names compare case-insensitively.
type Metadata map[string]string

// Get returns the value of name, matched case-insensitively.
func (m Metadata) Get(name string) string {
	if v, ok := m[name]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// MarshalBinary encodes the properties in name order.
func (m Metadata) MarshalBinary() ([]byte, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		if len(k) == 0 || len(k) > 255 {
			return nil, fmt.Errorf("zmtp: property name %q must be 1 to 255 bytes", k)
		}
		b = append(b, byte(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(m[k])))
		b = append(b, m[k]...)
	}
	return b, nil
}

// ParseMetadata decodes a property list, checking every length against
// the bytes actually present (zmq4 panics on a truncated property).
func ParseMetadata(b []byte) (Metadata, error) {
	m := Metadata{}
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || 1+n+4 > len(b) {
			return nil, fmt.Errorf("%w: truncated property name", ErrProtocol)
		}
		name := string(b[1 : 1+n])
		b = b[1+n:]
		vlen := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(vlen) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: property %q value of %d bytes, %d left", ErrProtocol, name, vlen, len(b))
		}
		m[name] = string(b[:vlen])
		b = b[vlen:]
	}
	return m, nil
}
