package zmtp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestMetadataRoundTrip(t *testing.T) {
	for _, m := range []Metadata{
		{},
		{"Socket-Type": "DEALER"},
		{"Socket-Type": "ROUTER", "Identity": "", "X-Empty": ""},
		{"Socket-Type": "SUB", "X-Zmp-Sub-Ack": "1", "Identity": "\x00\xffbin"},
		{strings.Repeat("N", 255): strings.Repeat("v", 70000)},
	} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal %v: %v", m, err)
		}
		got, err := ParseMetadata(b)
		if err != nil {
			t.Fatalf("parse: %v", err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: got %v, want %v", got, m)
		}
		// Marshal is deterministic (name order).
		b2, _ := got.MarshalBinary()
		if !bytes.Equal(b, b2) {
			t.Fatal("marshal is not deterministic")
		}
	}
}

func TestMetadataMarshalWireFormat(t *testing.T) {
	b, err := Metadata{"B": "xy", "A": ""}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 'A', 0, 0, 0, 0, 1, 'B', 0, 0, 0, 2, 'x', 'y'}
	if !bytes.Equal(b, want) {
		t.Fatalf("got % x, want % x", b, want)
	}
}

func TestMetadataMarshalBadName(t *testing.T) {
	for _, name := range []string{"", strings.Repeat("n", 256)} {
		if _, err := (Metadata{name: "v"}).MarshalBinary(); err == nil {
			t.Errorf("name of %d bytes: marshal succeeded", len(name))
		}
	}
}

func TestMetadataGetCaseInsensitive(t *testing.T) {
	m := Metadata{"socket-type": "PUB", "Identity": "me"}
	if got := m.Get("Socket-Type"); got != "PUB" {
		t.Fatalf("Get(Socket-Type) = %q", got)
	}
	if got := m.Get("IDENTITY"); got != "me" {
		t.Fatalf("Get(IDENTITY) = %q", got)
	}
	if got := m.Get("missing"); got != "" {
		t.Fatalf("Get(missing) = %q", got)
	}
}

func TestParseMetadataBad(t *testing.T) {
	prop := func(name string, vlen uint32, value string) []byte {
		b := append([]byte{byte(len(name))}, name...)
		b = binary.BigEndian.AppendUint32(b, vlen)
		return append(b, value...)
	}
	good := prop("Socket-Type", 6, "DEALER")
	tests := []struct {
		name string
		b    []byte
	}{
		{"zero name length", []byte{0, 0, 0, 0, 0}},
		{"name length past end", []byte{11, 'S', 'o', 'c'}},
		{"name without value length", []byte{4, 'N', 'a', 'm', 'e'}},
		{"partial value length", []byte{4, 'N', 'a', 'm', 'e', 0, 0}},
		{"single byte", []byte{1}},
		{"value longer than rest (zmq4 panic)", prop("Socket-Type", 7, "DEALER")},
		{"value length huge", prop("Socket-Type", 0xffffffff, "DEALER")},
		{"value length 2^31", prop("Identity", 1<<31, "")},
		{"good then truncated name", append(append([]byte(nil), good...), 3, 'a')},
		{"good then truncated value", append(append([]byte(nil), good...), prop("X", 10, "abc")...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				m   Metadata
				err error
			)
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("ParseMetadata panicked: %v", p)
					}
				}()
				m, err = ParseMetadata(tt.b)
			}()
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("ParseMetadata = %v, %v; want ErrProtocol", m, err)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	cmd, err := ParseCommand([]byte("\x05READYbody"))
	if err != nil || cmd.Name != "READY" || string(cmd.Body) != "body" {
		t.Fatalf("got %+v, %v", cmd, err)
	}
	cmd, err = ParseCommand([]byte("\x04PING"))
	if err != nil || cmd.Name != "PING" || len(cmd.Body) != 0 {
		t.Fatalf("got %+v, %v", cmd, err)
	}
	// appendTo is the inverse.
	in := Command{Name: "SUBSCRIBE", Body: []byte("topic")}
	out, err := ParseCommand(in.appendTo(nil))
	if err != nil || out.Name != in.Name || !bytes.Equal(out.Body, in.Body) {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
}

func TestParseCommandBad(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"zero name length", []byte{0, 'x'}},
		{"name length past end", []byte("\x06READY")},
		{"only length", []byte{5}},
		{"name with space", []byte("\x03A B")},
		{"name with control byte", []byte("\x03A\x00B")},
		{"name with DEL", []byte("\x03A\x7fB")},
		{"name with high byte", []byte("\x03A\xc3B")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := ParseCommand(tt.b)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("ParseCommand = %+v, %v; want ErrProtocol", cmd, err)
			}
		})
	}
}

func TestCompatible(t *testing.T) {
	for _, tt := range []struct {
		a, b SocketType
		ok   bool
	}{
		{Router, Dealer, true}, {Router, Req, true}, {Router, Router, true},
		{Dealer, Router, true}, {Dealer, Rep, true}, {Dealer, Dealer, true},
		{Pub, Sub, true}, {Pub, XSub, true}, {Sub, Pub, true}, {Sub, XPub, true},
		{Router, Pub, false}, {Pub, Router, false}, {Pub, Pub, false},
		{Sub, Sub, false}, {Dealer, Sub, false}, {Router, "", false},
		{"", "", false}, {Req, Router, false}, // REQ is only accepted as a peer
	} {
		if got := Compatible(tt.a, tt.b); got != tt.ok {
			t.Errorf("Compatible(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.ok)
		}
	}
}
