package zmtp

import (
	"errors"
	"testing"

	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

func TestGreetingRoundTrip(t *testing.T) {
	for _, g := range []Greeting{
		{Major: 3, Minor: 1, Mechanism: "NULL"},
		{Major: 3, Minor: 0, Mechanism: "PLAIN", AsServer: true},
		{Major: 3, Minor: 1, Mechanism: "CURVE"},
		{Major: 4, Minor: 7, Mechanism: "ABCDEFGHIJKLMNOPQRST"}, // exactly 20 bytes, no padding
		{Major: 3, Minor: 1, Mechanism: "X-1_2.3+4"},
	} {
		b, err := g.MarshalBinary()
		if err != nil {
			t.Fatalf("%+v: marshal: %v", g, err)
		}
		if len(b) != GreetingSize {
			t.Fatalf("%+v: marshalled %d bytes", g, len(b))
		}
		if b[0] != 0xff || b[9] != 0x7f {
			t.Fatalf("%+v: bad signature % x", g, b[:10])
		}
		got, err := ParseGreeting(b)
		if err != nil {
			t.Fatalf("%+v: parse: %v", g, err)
		}
		if got != g {
			t.Fatalf("round trip: got %+v, want %+v", got, g)
		}
	}
}

func TestGreetingMarshalRejectsBadMechanism(t *testing.T) {
	for _, m := range []string{"", "ABCDEFGHIJKLMNOPQRSTU"} {
		if _, err := (Greeting{Major: 3, Minor: 1, Mechanism: m}).MarshalBinary(); err == nil {
			t.Errorf("mechanism %q: marshal succeeded", m)
		}
	}
}

func TestParseGreetingBad(t *testing.T) {
	good := zmtptest.NullGreeting()
	mod := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:63]},
		{"long", append(append([]byte(nil), good...), 0)},
		{"only signature", good[:10]},
		{"bad first byte", mod(func(b []byte) []byte { b[0] = 0xfe; return b })},
		{"bad signature end", mod(func(b []byte) []byte { b[9] = 0x7e; return b })},
		{"version 2.0", mod(func(b []byte) []byte { b[10], b[11] = 2, 0; return b })},
		{"version 2.9", mod(func(b []byte) []byte { b[10], b[11] = 2, 9; return b })},
		{"version 1.0", mod(func(b []byte) []byte { b[10], b[11] = 1, 0; return b })},
		{"version 0", mod(func(b []byte) []byte { b[10], b[11] = 0, 0; return b })},
		{"not null padded", mod(func(b []byte) []byte { b[17] = 'X'; return b })},
		{"garbage after nul", mod(func(b []byte) []byte { b[31] = 1; return b })},
		{"empty mechanism", mod(func(b []byte) []byte { clear(b[12:32]); return b })},
		{"lowercase mechanism", mod(func(b []byte) []byte { copy(b[12:], "null"); return b })},
		{"space in mechanism", mod(func(b []byte) []byte { copy(b[12:], "NU LL"); return b })},
		{"high byte in mechanism", mod(func(b []byte) []byte { b[13] = 0xc3; return b })},
		{"as-server 2", mod(func(b []byte) []byte { b[32] = 2; return b })},
		{"as-server 0xff", mod(func(b []byte) []byte { b[32] = 0xff; return b })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGreeting(tt.b)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("ParseGreeting = %+v, %v; want ErrProtocol", g, err)
			}
		})
	}
}

func TestParseGreetingLenient(t *testing.T) {
	// Padding bytes 1-8 and 33-63 are not checked, as in libzmq;
	// ZMTP 3.0 and later major versions are accepted.
	b := zmtptest.NullGreeting()
	for i := 1; i <= 8; i++ {
		b[i] = byte(i)
	}
	for i := 33; i < GreetingSize; i++ {
		b[i] = 0xaa
	}
	b[11] = 0
	g, err := ParseGreeting(b)
	if err != nil {
		t.Fatal(err)
	}
	if g.Major != 3 || g.Minor != 0 || g.Mechanism != "NULL" || g.AsServer {
		t.Fatalf("got %+v", g)
	}
	b[10] = 4
	b[32] = 1
	g, err = ParseGreeting(b)
	if err != nil || g.Major != 4 || !g.AsServer {
		t.Fatalf("got %+v, %v", g, err)
	}
}
