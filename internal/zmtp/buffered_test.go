package zmtp

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

func TestWholeMessage(t *testing.T) {
	two := zmtptest.Message([]byte("topic"), []byte("body"))
	long := zmtptest.Message(bytes.Repeat([]byte{'x'}, 300))
	ping := zmtptest.Command(CmdPing, []byte{0, 10})
	cases := []struct {
		name string
		buf  []byte
		want bool
	}{
		{"empty", nil, false},
		{"one frame", zmtptest.Message([]byte("a")), true},
		{"empty frame", zmtptest.Message(nil), true},
		{"two frames", two, true},
		{"two frames, last byte missing", two[:len(two)-1], false},
		{"first frame only", two[:2+len("topic")], false},
		{"long frame", long, true},
		{"long frame, header only", long[:9], false},
		{"long frame, header cut", long[:5], false},
		{"command first", append(ping, zmtptest.Message([]byte("a"))...), false},
		{"whole message then a partial one", append(zmtptest.Message([]byte("a")), two[:3]...), true},
	}
	for _, c := range cases {
		if got := wholeMessage(c.buf); got != c.want {
			t.Errorf("%s: wholeMessage(% x) = %v, want %v", c.name, c.buf, got, c.want)
		}
	}
}

func TestMessageBuffered(t *testing.T) {
	a := zmtptest.Message([]byte("a"))
	b := zmtptest.Message([]byte("topic"), bytes.Repeat([]byte{'b'}, 100))
	for _, c := range []struct {
		name  string
		input []byte
		want  bool // after reading a
	}{
		{"a alone", a, false},
		{"a and b", append(append([]byte{}, a...), b...), true},
		{"a and part of b", append(append([]byte{}, a...), b[:len(b)-10]...), false},
	} {
		conn := memConn(c.input, nil, 1<<20)
		if _, err := conn.ReadMessage(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := conn.MessageBuffered(); got != c.want {
			t.Errorf("%s: MessageBuffered after the first message = %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzWholeMessage checks wholeMessage against the reader: when it
// says a whole message is there, reading those bytes alone never runs
// out of input; when the reader gets a message out of bytes that do
// not start with a command, wholeMessage says so.
func FuzzWholeMessage(f *testing.F) {
	f.Add(zmtptest.Message([]byte("topic"), []byte("body")))
	f.Add(zmtptest.Message([]byte("topic"), []byte("body"))[:7])
	f.Add(zmtptest.Message(bytes.Repeat([]byte{'x'}, 300)))
	f.Add(append(zmtptest.Command(CmdPing, []byte{0, 10}), zmtptest.Message([]byte("x"))...))
	f.Add([]byte{flagMore, 0, flagMore, 0, 0, 0})
	f.Add([]byte{flagLong, 0, 0, 0, 0, 0, 0, 0, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		whole := wholeMessage(b)
		msg, err := memConn(b, nil, 4096).ReadMessage()
		ranOut := err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)
		if whole && ranOut {
			t.Fatalf("wholeMessage(% x) = true, but reading it ran out of input: %v", b, err)
		}
		if err == nil && len(b) > 0 && b[0]&flagCommand == 0 && !whole {
			t.Fatalf("read %d frames out of % x, but wholeMessage says no whole message", len(msg), b)
		}
	})
}
