package zmtptest

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// GreetingSize is the length of a ZMTP 3.x greeting.
const GreetingSize = 64

// Frame flag bits (RFC 37, "Framing").
const (
	FlagMore    byte = 0x01 // more frames follow in this message
	FlagLong    byte = 0x02 // the size is 8 bytes, not 1
	FlagCommand byte = 0x04 // the frame is a command
)

// Greeting returns the 64-byte greeting of ZMTP 3.minor offering
// mechanism (NUL-padded to 20 bytes), with the as-server byte set when
// asServer is true.
func Greeting(mechanism string, minor byte, asServer bool) []byte {
	if len(mechanism) > 20 {
		panic(fmt.Sprintf("zmtptest: mechanism %q longer than 20 bytes", mechanism))
	}
	b := make([]byte, GreetingSize)
	b[0] = 0xff // signature: 0xff, 8 padding bytes, 0x7f
	b[9] = 0x7f
	b[10] = 3 // major version
	b[11] = minor
	copy(b[12:32], mechanism)
	if asServer {
		b[32] = 1
	}
	return b
}

// NullGreeting returns the greeting of a ZMTP 3.1 NULL client:
// Greeting("NULL", 1, false).
func NullGreeting() []byte { return Greeting("NULL", 1, false) }

// FrameHeader returns the flags byte and size of a frame of size bytes.
// The 8-byte (long) size is used when size exceeds 255 or flags already
// carries FlagLong; other flag bits are written as given.
func FrameHeader(flags byte, size uint64) []byte {
	if size > 255 || flags&FlagLong != 0 {
		return binary.BigEndian.AppendUint64([]byte{flags | FlagLong}, size)
	}
	return []byte{flags, byte(size)}
}

// Frame returns one frame of body with flags, sized as by FrameHeader.
func Frame(flags byte, body []byte) []byte {
	return append(FrameHeader(flags, uint64(len(body))), body...)
}

// Message returns frames as one multipart message: every frame but the
// last carries FlagMore. No frames give no bytes.
func Message(frames ...[]byte) []byte {
	var b []byte
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = FlagMore
		}
		b = append(b, Frame(flags, f)...)
	}
	return b
}

// CommandBody returns the body of a command frame: the name's length
// byte, the name and body.
func CommandBody(name string, body []byte) []byte {
	if len(name) > 255 {
		panic(fmt.Sprintf("zmtptest: command name %q longer than 255 bytes", name))
	}
	b := append([]byte{byte(len(name))}, name...)
	return append(b, body...)
}

// Command returns a command frame of name and body.
func Command(name string, body []byte) []byte {
	return Frame(FlagCommand, CommandBody(name, body))
}

// Property returns one metadata property: the name's length byte, the
// name, the value's 4-byte length and the value.
func Property(name, value string) []byte {
	if len(name) == 0 || len(name) > 255 {
		panic(fmt.Sprintf("zmtptest: property name %q must be 1 to 255 bytes", name))
	}
	b := append([]byte{byte(len(name))}, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

// Properties returns props as a metadata property list, in byte order
// of the names so that the output is deterministic.
func Properties(props map[string]string) []byte {
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	slices.Sort(names)
	var b []byte
	for _, name := range names {
		b = append(b, Property(name, props[name])...)
	}
	return b
}

// Ready returns a READY command frame carrying props.
func Ready(props map[string]string) []byte {
	return Command("READY", Properties(props))
}

// ReadyType returns a READY command frame announcing only the socket
// type typ ("DEALER", "ROUTER", "SUB" ...).
func ReadyType(typ string) []byte {
	return Ready(map[string]string{"Socket-Type": typ})
}
