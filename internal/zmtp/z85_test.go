package zmtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
)

func TestZ85RFC32Vector(t *testing.T) {
	raw := []byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B}
	s, err := Z85Encode(raw)
	if err != nil || s != "HelloWorld" {
		t.Fatalf("Z85Encode = %q, %v; want HelloWorld", s, err)
	}
	b, err := Z85DecodeString("HelloWorld")
	if err != nil || !bytes.Equal(b, raw) {
		t.Fatalf("Z85DecodeString = % x, %v; want % x", b, err, raw)
	}
}

func TestZ85Boundaries(t *testing.T) {
	tests := []struct {
		raw []byte
		z85 string
	}{
		{nil, ""},
		{[]byte{0, 0, 0, 0}, "00000"},
		{[]byte{0, 0, 0, 1}, "00001"},
		{[]byte{0, 0, 0, 84}, "0000#"},
		{[]byte{0, 0, 0, 85}, "00010"},
		{[]byte{0xff, 0xff, 0xff, 0xff}, "%nSc0"}, // the largest group
		{[]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "%nSc000000"},
	}
	for _, tt := range tests {
		s, err := Z85Encode(tt.raw)
		if err != nil || s != tt.z85 {
			t.Errorf("Z85Encode(% x) = %q, %v; want %q", tt.raw, s, err, tt.z85)
		}
		b, err := Z85DecodeString(tt.z85)
		if err != nil || !bytes.Equal(b, tt.raw) {
			t.Errorf("Z85DecodeString(%q) = % x, %v; want % x", tt.z85, b, err, tt.raw)
		}
	}
}

func TestZ85RoundTrip(t *testing.T) {
	for n := 0; n <= 128; n += 4 {
		raw := make([]byte, n)
		rand.Read(raw)
		s, err := Z85Encode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != n/4*5 {
			t.Fatalf("%d bytes encode to %d characters", n, len(s))
		}
		if i := strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune(z85Alphabet, r) }); i >= 0 {
			t.Fatalf("encoding has %q outside the alphabet", s[i])
		}
		b, err := Z85DecodeString(s)
		if err != nil || !bytes.Equal(b, raw) {
			t.Fatalf("round trip of % x: % x, %v", raw, b, err)
		}
	}
	// Every character decodes to its own digit.
	for i := range len(z85Alphabet) {
		s := "0000" + z85Alphabet[i:i+1]
		b, err := Z85DecodeString(s)
		if err != nil || b[3] != byte(i) || b[0]|b[1]|b[2] != 0 {
			t.Fatalf("%q decodes to % x, %v", s, b, err)
		}
	}
}

func TestZ85Errors(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 31, 33} {
		if _, err := Z85Encode(make([]byte, n)); err == nil {
			t.Errorf("Z85Encode of %d bytes succeeded", n)
		}
	}
	for _, s := range []string{
		"0", "0000", "000000", "HelloWorl", "HelloWorld1", // not a multiple of 5
		"Hello World", "Hello Worl",
		"Hell\x00World"[:10], "HelloWorl\"", "HelloWorl'", "HelloWorl,", "HelloWorl;", "HelloWorl_", "HelloWorl`",
		"HelloWorl|", "HelloWorl~", "HelloWorl\\", "HelloWorl\x7f", "HelloWorl\xff", "Héllo",
		"#####",      // 85^5-1: overflows 32 bits
		"%nSc1",      // 2^32: the smallest overflow
		"00000%nSc1", // overflow in the second group
		"|||||",
	} {
		if b, err := Z85DecodeString(s); err == nil {
			t.Errorf("Z85DecodeString(%q) = % x, want an error", s, b)
		}
	}
}

func TestParseKey(t *testing.T) {
	var k Key
	for i := range k {
		k[i] = byte(i*37 + 1)
	}
	s := k.String()
	if len(s) != 40 {
		t.Fatalf("Key.String is %d characters", len(s))
	}
	got, err := ParseKey(s)
	if err != nil || got != k {
		t.Fatalf("ParseKey(%q) = %v, %v", s, got, err)
	}
	if (Key{}).String() != strings.Repeat("0", 40) {
		t.Fatalf("zero key is %q", (Key{}).String())
	}
	if !(Key{}).IsZero() || k.IsZero() {
		t.Fatal("IsZero is wrong")
	}
	for _, bad := range []string{
		"", s[:35], s[:39], s + "0", s + "00000", // 40 characters exactly
		"HelloWorld",               // valid Z85, 8 bytes
		s[:39] + " ",               // bad character
		"#####" + s[5:],            // overflowing group
		strings.Repeat("0", 45),    // valid Z85, 36 bytes
		strings.Repeat("\xff", 40), // not Z85 at all
	} {
		if k, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) = %v, want an error", bad, k)
		}
	}
}

const python = "/usr/bin/python3"

// requirePyzmq skips the test when python3-zmq is missing, unless
// ZMP_REQUIRE_INTEROP=1 makes that a failure.
func requirePyzmq(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import zmq").CombinedOutput()
	if err == nil {
		return
	}
	if os.Getenv("ZMP_REQUIRE_INTEROP") == "1" {
		t.Fatalf("python3-zmq required (ZMP_REQUIRE_INTEROP=1) but unusable: %v: %s", err, bytes.TrimSpace(out))
	}
	t.Skip("python3-zmq not installed: apt-get install python3-zmq")
}

// TestZ85PyzmqKeys parses key pairs made by libzmq (through pyzmq) and
// derives the public key from the secret one as libzmq does; it also
// checks that pyzmq decodes our Z85 to the same bytes.
func TestZ85PyzmqKeys(t *testing.T) {
	requirePyzmq(t)
	raw := make([]byte, 64)
	rand.Read(raw)
	ours, err := Z85Encode(raw)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import sys, zmq
from zmq.utils import z85
for _ in range(5):
    pub, sec = zmq.curve_keypair()
    print(pub.decode(), sec.decode())
print(z85.decode(sys.argv[1].encode()).hex())
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", script, ours).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 6 {
		t.Fatalf("python printed %q", out)
	}
	for _, line := range lines[:5] {
		var pubText, secText string
		if _, err := fmt.Sscan(line, &pubText, &secText); err != nil {
			t.Fatalf("python printed %q: %v", line, err)
		}
		pub, err := ParseKey(pubText)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", pubText, err)
		}
		sec, err := ParseKey(secText)
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", secText, err)
		}
		derived, err := curve25519.X25519(sec[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(derived, pub[:]) {
			t.Fatalf("public key of secret %s is %x, libzmq says %s", secText, derived, pubText)
		}
		if pub.String() != pubText || sec.String() != secText {
			t.Fatalf("re-encoded %s %s, libzmq wrote %s %s", pub, sec, pubText, secText)
		}
	}
	if want := fmt.Sprintf("%x", raw); lines[5] != want {
		t.Fatalf("pyzmq decodes our %q to %s, want %s", ours, lines[5], want)
	}
}
