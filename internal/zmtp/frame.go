package zmtp

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Frame flag bits (RFC 37 section "Framing").
const (
	flagMore    = 0x01
	flagLong    = 0x02
	flagCommand = 0x04
	flagsKnown  = flagMore | flagLong | flagCommand
)

// frameOverhead is charged against the message size limit for every
// frame, so that a flood of empty frames cannot exhaust memory either.
const frameOverhead = 32

// directAlloc is the largest frame body allocated up front; larger
// bodies grow as their bytes actually arrive, so a peer that announces
// a large frame and then stalls costs at most this much.
const directAlloc = 64 << 10

type frameHeader struct {
	more, command bool
	size          uint64
}

// readFrameHeader reads a flags byte and a 1- or 8-byte size.
func readFrameHeader(r *bufio.Reader) (frameHeader, error) {
	flags, err := r.ReadByte()
	if err != nil {
		return frameHeader{}, err
	}
	if flags&^flagsKnown != 0 {
		return frameHeader{}, fmt.Errorf("%w: reserved frame flag bits %#x", ErrProtocol, flags)
	}
	h := frameHeader{more: flags&flagMore != 0, command: flags&flagCommand != 0}
	if h.command && h.more {
		return frameHeader{}, fmt.Errorf("%w: command frame with MORE flag", ErrProtocol)
	}
	if flags&flagLong == 0 {
		n, err := r.ReadByte()
		if err != nil {
			return frameHeader{}, unexpectedEOF(err)
		}
		h.size = uint64(n)
		return h, nil
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return frameHeader{}, unexpectedEOF(err)
	}
	h.size = binary.BigEndian.Uint64(b[:])
	return h, nil
}

// readBody reads exactly n bytes. The caller has already checked n
// against its limit; large bodies are grown as data arrives, and
// progress (when not nil) is called after each chunk so that a slow
// large frame still counts as traffic for heartbeats.
func readBody(r *bufio.Reader, n uint64, progress func()) ([]byte, error) {
	if n <= directAlloc {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, unexpectedEOF(err)
		}
		return b, nil
	}
	b := make([]byte, 0, directAlloc)
	for uint64(len(b)) < n {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		want := min(uint64(cap(b)), n)
		m, err := r.Read(b[len(b):want])
		b = b[:len(b)+m]
		if progress != nil && m > 0 {
			progress()
		}
		if err != nil && uint64(len(b)) < n {
			return nil, unexpectedEOF(err)
		}
	}
	return b, nil
}

// appendFrameHeader appends the flags and size for a frame of n bytes.
func appendFrameHeader(dst []byte, n int, more, command bool) []byte {
	var flags byte
	if more {
		flags |= flagMore
	}
	if command {
		flags |= flagCommand
	}
	if n <= 255 {
		return append(dst, flags, byte(n))
	}
	dst = append(dst, flags|flagLong)
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// wholeMessage reports whether buf begins with a whole message: frames
// up to one without the MORE flag, headers and bodies complete. A
// command counts as none. It validates nothing; the reader does.
func wholeMessage(buf []byte) bool {
	for len(buf) >= 2 {
		flags := buf[0]
		var n uint64
		if flags&flagLong == 0 {
			n, buf = uint64(buf[1]), buf[2:]
		} else {
			if len(buf) < 9 {
				return false
			}
			n, buf = binary.BigEndian.Uint64(buf[1:9]), buf[9:]
		}
		if n > uint64(len(buf)) {
			return false
		}
		if flags&flagCommand != 0 {
			return false // most are answered, not returned: say nothing
		}
		buf = buf[n:]
		if flags&flagMore == 0 {
			return true
		}
	}
	return false
}
