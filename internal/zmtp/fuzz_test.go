package zmtp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

func FuzzParseGreeting(f *testing.F) {
	f.Add(zmtptest.NullGreeting())
	f.Add(zmtptest.Greeting("PLAIN", 1, false))
	f.Add(zmtptest.Greeting("ABCDEFGHIJKLMNOPQRST", 1, false))
	f.Add(zmtptest.NullGreeting()[:10])
	f.Add(make([]byte, GreetingSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGreeting(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if g.Major < 3 || g.Mechanism == "" || len(g.Mechanism) > mechanismLen {
			t.Fatalf("accepted invalid greeting %+v", g)
		}
		out, err := g.MarshalBinary()
		if err != nil {
			t.Fatalf("cannot re-marshal accepted greeting %+v: %v", g, err)
		}
		g2, err := ParseGreeting(out)
		if err != nil || g2 != g {
			t.Fatalf("round trip: %+v -> %+v, %v", g, g2, err)
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	for _, m := range []Metadata{
		{"Socket-Type": "DEALER"},
		{"Socket-Type": "SUB", "X-Zmp-Sub-Ack": "1", "Identity": "abc"},
	} {
		b, _ := m.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 7, 'D', 'E', 'A', 'L', 'E', 'R'})
	f.Add([]byte{1, 'A', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{200, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetadata(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("cannot re-marshal %v: %v", m, err)
		}
		if len(out) > len(b) {
			t.Fatalf("re-marshalled %d bytes from %d", len(out), len(b))
		}
		m2, err := ParseMetadata(out)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip: %v -> %v, %v", m, m2, err)
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	f.Add([]byte("\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER"))
	f.Add([]byte("\x04PING\x00\x0actx"))
	f.Add([]byte("\x09SUBSCRIBEtopic"))
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{255, 'A'})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := ParseCommand(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if out := cmd.appendTo(nil); !bytes.Equal(out, b) {
			t.Fatalf("re-encoded % x, parsed from % x", out, b)
		}
	})
}

func FuzzReadMessage(f *testing.F) {
	hugeHeader := zmtptest.FrameHeader(0, 1<<50)
	f.Add(zmtptest.Message([]byte("hello")))
	f.Add(zmtptest.Message([]byte("id"), nil, bytes.Repeat([]byte{'b'}, 300)))
	f.Add(append(zmtptest.Command(CmdPing, []byte{0, 10, 'c'}), zmtptest.Message([]byte("x"))...))
	f.Add(zmtptest.Command(CmdSubscribe, []byte("topic")))
	f.Add(zmtptest.Command(CmdCancel, nil))
	f.Add(zmtptest.Command(CmdError, []byte("\x03bad")))
	f.Add(append(hugeHeader, "abc"...))
	f.Add(zmtptest.FrameHeader(flagLong|flagMore, 3000))
	f.Add(zmtptest.Message([]byte("truncated"))[:5])
	f.Add([]byte{flagMore, 0, flagMore, 0, flagMore, 0, 0, 0})
	f.Add([]byte{0x08, 0})
	f.Add([]byte{flagCommand | flagMore, 0})
	const maxSize = 4096
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		c := memConn(b, &out, maxSize)
		// Every successful ReadMessage consumes at least two bytes, so
		// this loop ends; len(b)+1 bounds it regardless.
		for range len(b) + 1 {
			msg, err := c.ReadMessage()
			if err != nil {
				if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) ||
					errors.Is(err, ErrProtocol) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrPeerError) {
					return
				}
				t.Fatalf("unexpected error type: %v", err)
			}
			if len(msg) == 0 {
				t.Fatal("ReadMessage returned no frames and no error")
			}
			var total int
			for _, fr := range msg {
				total += len(fr) + frameOverhead
			}
			if total > maxSize {
				t.Fatalf("message of %d accounted bytes passed limit %d", total, maxSize)
			}
		}
		t.Fatal("ReadMessage loop did not terminate")
	})
}
