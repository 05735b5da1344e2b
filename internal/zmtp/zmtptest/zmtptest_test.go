package zmtptest

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// unhex decodes space-separated hex bytes, failing the test on a typo.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncodings(t *testing.T) {
	nullGreeting := append(unhex(t, "ff 00 00 00 00 00 00 00 00 7f 03 01"), "NULL"...)
	nullGreeting = append(nullGreeting, make([]byte, 16+32)...)
	plainServer30 := append(unhex(t, "ff 00 00 00 00 00 00 00 00 7f 03 00"), "PLAIN"...)
	plainServer30 = append(plainServer30, make([]byte, 15)...)
	plainServer30 = append(plainServer30, 1)
	plainServer30 = append(plainServer30, make([]byte, 31)...)
	readyDealer := append(unhex(t, "04 1c 05"), "READY"...)
	readyDealer = append(readyDealer, 11)
	readyDealer = append(readyDealer, "Socket-Type"...)
	readyDealer = append(readyDealer, unhex(t, "00 00 00 06")...)
	readyDealer = append(readyDealer, "DEALER"...)
	long300 := append(unhex(t, "02 00 00 00 00 00 00 01 2c"), bytes.Repeat([]byte{'b'}, 300)...)

	tests := []struct {
		name      string
		got, want []byte
	}{
		{"NULL greeting", NullGreeting(), nullGreeting},
		{"PLAIN 3.0 server greeting", Greeting("PLAIN", 0, true), plainServer30},
		{"READY Socket-Type DEALER", ReadyType("DEALER"), readyDealer},
		{"READY from map", Ready(map[string]string{"Socket-Type": "DEALER"}), readyDealer},
		{"huge long command header", FrameHeader(FlagCommand, 1<<50), unhex(t, "06 00 04 00 00 00 00 00 00")},
		{"forced long header", FrameHeader(FlagMore|FlagLong, 3), unhex(t, "03 00 00 00 00 00 00 00 03")},
		{"short header at 255", FrameHeader(0, 255), unhex(t, "00 ff")},
		{"reserved flags kept", Frame(0x80, []byte("x")), unhex(t, "80 01 78")},
		{"multipart with long last frame", Message([]byte("id"), nil, bytes.Repeat([]byte{'b'}, 300)),
			append(unhex(t, "01 02 69 64 01 00"), long300...)},
		{"empty message", Message(), nil},
		{"PING command", Command("PING", []byte{0, 10}), unhex(t, "04 07 04 50 49 4e 47 00 0a")},
		{"properties sorted by name", Properties(map[string]string{"b": "xy", "B": "", "a": "1"}),
			unhex(t, "01 42 00 00 00 00 01 61 00 00 00 01 31 01 62 00 00 00 02 78 79")},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, tt.got, tt.want)
		}
	}
	if n := len(NullGreeting()); n != GreetingSize {
		t.Errorf("greeting is %d bytes", n)
	}
}

func TestPanicsOnUnencodable(t *testing.T) {
	for name, f := range map[string]func(){
		"long mechanism":     func() { Greeting(strings.Repeat("A", 21), 1, false) },
		"long command name":  func() { Command(strings.Repeat("A", 256), nil) },
		"empty property":     func() { Property("", "v") },
		"long property name": func() { Properties(map[string]string{strings.Repeat("A", 256): ""}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
