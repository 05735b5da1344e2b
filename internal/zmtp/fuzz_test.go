package zmtp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"

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

// fuzzFixture holds fixed CURVE keys, so that seeds stay valid from run
// to run: S and C are the long-term pairs, C' and S' the transient ones.
type fuzzFixture struct {
	serverPub, serverSec   Key
	clientPub, clientSec   Key
	clientTPub, clientTSec [32]byte
	serverTPub, serverTSec [32]byte
	cookieKey              [32]byte
}

func fixedKeyPair(seed byte) (pub, sec [32]byte) {
	for i := range sec {
		sec[i] = seed + byte(i)*3
	}
	p, err := curve25519.X25519(sec[:], curve25519.Basepoint)
	if err != nil {
		panic(err)
	}
	copy(pub[:], p)
	return pub, sec
}

func newFuzzFixture() *fuzzFixture {
	fx := &fuzzFixture{}
	sp, ss := fixedKeyPair(1)
	cp, cs := fixedKeyPair(2)
	fx.serverPub, fx.serverSec, fx.clientPub, fx.clientSec = sp, ss, cp, cs
	fx.clientTPub, fx.clientTSec = fixedKeyPair(3)
	fx.serverTPub, fx.serverTSec = fixedKeyPair(4)
	for i := range fx.cookieKey {
		fx.cookieKey[i] = byte(0xc0 + i)
	}
	return fx
}

// fixedNonce returns 16 bytes made from seed, for long nonces.
func fixedNonce(seed byte) []byte { return bytes.Repeat([]byte{seed}, 16) }

// hello returns a HELLO body from C' to S.
func (fx *fuzzFixture) hello(nonce uint64) []byte {
	b := append([]byte{1, 0}, make([]byte, 72)...)
	b = append(b, fx.clientTPub[:]...)
	b = binary.BigEndian.AppendUint64(b, nonce)
	return box.Seal(b, make([]byte, 64), shortNonce(prefixHello, nonce), keyPtr(fx.serverPub), &fx.clientTSec)
}

// cookie returns the cookie the server issues for C' and S'.
func (fx *fuzzFixture) cookie() []byte {
	n := fixedNonce('k')
	return secretbox.Seal(n, append(fx.clientTPub[:], fx.serverTSec[:]...), longNonce(prefixCookie, n), &fx.cookieKey)
}

// welcome returns a WELCOME body from S to C'.
func (fx *fuzzFixture) welcome() []byte {
	n := fixedNonce('w')
	return box.Seal(n, append(fx.serverTPub[:], fx.cookie()...), longNonce(prefixWelcome, n), keyPtr(fx.clientTPub), keyPtr(fx.serverSec))
}

// initiate returns an INITIATE body from C' to S' carrying meta.
func (fx *fuzzFixture) initiate(nonce uint64, meta []byte) []byte {
	vn := fixedNonce('v')
	vouch := box.Seal(vn, append(fx.clientTPub[:], fx.serverPub[:]...), longNonce(prefixVouch, vn), &fx.serverTPub, keyPtr(fx.clientSec))
	plain := append(append(append([]byte(nil), fx.clientPub[:]...), vouch...), meta...)
	b := binary.BigEndian.AppendUint64(fx.cookie(), nonce)
	return box.Seal(b, plain, shortNonce(prefixInitiate, nonce), &fx.serverTPub, &fx.clientTSec)
}

// message returns a whole MESSAGE command frame body from C' to S'.
func (fx *fuzzFixture) message(nonce uint64, flags byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint64([]byte("\x07MESSAGE"), nonce)
	return box.Seal(b, append([]byte{flags}, payload...), shortNonce(prefixMsgC, nonce), &fx.serverTPub, &fx.clientTSec)
}

func isCurveError(err error) bool {
	return errors.Is(err, ErrProtocol) || errors.Is(err, ErrCrypto)
}

func FuzzParsePlainHello(f *testing.F) {
	f.Add(plainHello("admin", "s3cret"))
	f.Add(plainHello("", ""))
	f.Add(plainHello(strings.Repeat("u", 255), strings.Repeat("p", 255)))
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{5, 'a', 'd'})
	f.Add([]byte("\x05admin"))
	f.Add([]byte("\x05admin\x07s3cret"))
	f.Add([]byte("\x05admin\x06s3cretX"))
	f.Add([]byte{255, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		user, pass, err := parsePlainHello(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if out := plainHello(user, pass); !bytes.Equal(out, b) {
			t.Fatalf("parsed %q/%q from % x, which re-encode to % x", user, pass, b, out)
		}
	})
}

func FuzzOpenHello(f *testing.F) {
	fx := newFuzzFixture()
	good := fx.hello(1)
	f.Add(good)
	f.Add(fx.hello(1 << 62))
	f.Add(good[:len(good)-1])
	f.Add(append(bytes.Clone(good), 0))
	f.Add([]byte{})
	for _, i := range []int{0, 1, 2, 80, 110, 150, len(good) - 1} {
		b := bytes.Clone(good)
		b[i] ^= 1
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		clientT, nonce, err := openHello(b, fx.serverSec)
		if err != nil {
			if !isCurveError(err) {
				t.Fatalf("error %v wraps neither ErrProtocol nor ErrCrypto", err)
			}
			return
		}
		if len(b) != helloBodySize || b[0] != 1 || b[1] != 0 {
			t.Fatalf("accepted a %d-byte HELLO of version %d.%d", len(b), b[0], b[1])
		}
		if !bytes.Equal(clientT[:], b[74:106]) || nonce != binary.BigEndian.Uint64(b[106:114]) {
			t.Fatalf("returned key %x nonce %d, HELLO says %x %d", clientT[:], nonce, b[74:106], b[106:114])
		}
		// The signature box must be the one C' makes of 64 zero bytes.
		var shared [32]byte
		box.Precompute(&shared, clientT, keyPtr(fx.serverSec))
		if want := box.SealAfterPrecomputation(nil, make([]byte, 64), shortNonce(prefixHello, nonce), &shared); !bytes.Equal(want, b[114:]) {
			t.Fatal("accepted a HELLO whose signature is not 64 sealed zero bytes")
		}
	})
}

func FuzzOpenInitiate(f *testing.F) {
	fx := newFuzzFixture()
	meta, _ := Metadata{"Socket-Type": "DEALER", "Identity": "id"}.MarshalBinary()
	good := fx.initiate(2, meta)
	f.Add(good)
	f.Add(fx.initiate(2, nil))
	f.Add(fx.initiate(1, meta)) // nonce not after HELLO's
	f.Add(fx.initiate(1<<63, meta))
	f.Add(good[:minInitiate])
	f.Add(good[:minInitiate-1])
	f.Add([]byte{})
	for _, i := range []int{0, 20, cookieSize + 7, cookieSize + 8, len(good) - 1} {
		b := bytes.Clone(good)
		b[i] ^= 1
		f.Add(b)
	}
	const helloNonce = 1
	f.Fuzz(func(t *testing.T, b []byte) {
		clientKey, gotMeta, nonce, err := openInitiate(b, &fx.cookieKey, &fx.clientTPub, &fx.serverTSec, fx.serverPub, helloNonce)
		if err != nil {
			if !isCurveError(err) {
				t.Fatalf("error %v wraps neither ErrProtocol nor ErrCrypto", err)
			}
			return
		}
		if nonce <= helloNonce || nonce != binary.BigEndian.Uint64(b[cookieSize:cookieSize+8]) {
			t.Fatalf("accepted INITIATE nonce %d", nonce)
		}
		cookie, ok := secretbox.Open(nil, b[16:cookieSize], longNonce(prefixCookie, b[:16]), &fx.cookieKey)
		if !ok || !bytes.Equal(cookie, append(fx.clientTPub[:], fx.serverTSec[:]...)) {
			t.Fatal("accepted a cookie that does not name this handshake")
		}
		// Re-seal what openInitiate returned: it must be the whole box.
		var shared [32]byte
		box.Precompute(&shared, &fx.clientTPub, &fx.serverTSec)
		plain, ok := box.OpenAfterPrecomputation(nil, b[cookieSize+8:], shortNonce(prefixInitiate, nonce), &shared)
		if !ok || !bytes.Equal(plain[:KeySize], clientKey[:]) || !bytes.Equal(plain[KeySize+vouchSize:], gotMeta) {
			t.Fatalf("returned key %v and %d bytes of metadata are not the box's", clientKey, len(gotMeta))
		}
		vouch := plain[KeySize : KeySize+vouchSize]
		v, ok := box.Open(nil, vouch[16:], longNonce(prefixVouch, vouch[:16]), keyPtr(clientKey), &fx.serverTSec)
		if !ok || !bytes.Equal(v, append(fx.clientTPub[:], fx.serverPub[:]...)) {
			t.Fatal("accepted a vouch that does not bind C' and S")
		}
	})
}

// newFuzzCodec returns the server's codec of the fixture after a
// handshake whose INITIATE carried nonce 2.
func (fx *fuzzFixture) serverCodec() *curveCodec {
	return newCurveCodec(&fx.clientTPub, &fx.serverTSec, prefixMsgS, prefixMsgC, 1, 2)
}

func FuzzCurveOpen(f *testing.F) {
	fx := newFuzzFixture()
	f.Add(fx.message(3, 0, []byte("hello")))
	f.Add(fx.message(3, curveMore, nil))
	f.Add(fx.message(4, curveCommand, []byte("\x04PING\x00\x00")))
	f.Add(fx.message(2, 0, []byte("replay of INITIATE's nonce")))
	f.Add(fx.message(1<<63, 0, bytes.Repeat([]byte{'x'}, 300)))
	f.Add(fx.message(3, curveMore|curveCommand, nil))
	f.Add(fx.message(3, 0x80, nil))
	f.Add(fx.message(3, 0, nil)[:8+8+boxOverhead])
	f.Add([]byte("\x07MESSAGE"))
	f.Add([]byte("\x07MESSAGF"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		cc := fx.serverCodec()
		frame, more, command, err := cc.open(b)
		if err != nil {
			if !isCurveError(err) {
				t.Fatalf("error %v wraps neither ErrProtocol nor ErrCrypto", err)
			}
			return
		}
		if more && command {
			t.Fatal("returned both more and command")
		}
		nonce := binary.BigEndian.Uint64(b[8:16])
		if nonce <= 2 {
			t.Fatalf("accepted nonce %d after 2", nonce)
		}
		// The client's codec, one nonce behind, seals the same bytes.
		sender := newCurveCodec(&fx.serverTPub, &fx.clientTSec, prefixMsgC, prefixMsgS, nonce-1, 0)
		if out := sender.seal(frame, more, command); !bytes.Equal(out, b) {
			t.Fatalf("frame %q more=%v command=%v re-seals to other bytes", frame, more, command)
		}
		if _, _, _, err := cc.open(b); !errors.Is(err, ErrCrypto) {
			t.Fatalf("the same MESSAGE opened twice: %v", err)
		}
	})
}

func FuzzReadMessageCurve(f *testing.F) {
	fx := newFuzzFixture()
	frame := func(body []byte) []byte { return zmtptest.Frame(0, body) }
	f.Add(frame(fx.message(3, 0, []byte("hello"))))
	f.Add(append(frame(fx.message(3, curveMore, []byte("a"))), frame(fx.message(4, 0, []byte("b")))...))
	f.Add(append(frame(fx.message(3, curveCommand, []byte("\x04PING\x00\x01ctx"))), frame(fx.message(4, 0, nil))...))
	f.Add(frame(fx.message(3, curveCommand, []byte("\x09SUBSCRIBEtopic"))))
	f.Add(append(frame(fx.message(3, curveMore, []byte("a"))), frame(fx.message(4, curveCommand, []byte("\x04PONG")))...))
	f.Add(append(frame(fx.message(3, 0, []byte("a"))), frame(fx.message(3, 0, []byte("a")))...))
	f.Add(zmtptest.Command(CmdMessage, nil))
	f.Add(zmtptest.Message([]byte("clear")))
	f.Add(zmtptest.FrameHeader(flagCommand, 1<<40))
	const maxSize = 4096
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		c := memConn(b, &out, maxSize)
		c.curve = fx.serverCodec()
		for range len(b) + 1 {
			msg, err := c.ReadMessage()
			if err != nil {
				if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || isCurveError(err) ||
					errors.Is(err, ErrTooLarge) || errors.Is(err, ErrPeerError) {
					return
				}
				t.Fatalf("unexpected error type: %v", err)
			}
			if len(msg) == 0 {
				t.Fatal("ReadMessage returned no frames and no error")
			}
			if bytes.Contains(out.Bytes(), []byte("PONG")) {
				t.Fatal("a PONG went out in clear text")
			}
		}
		t.Fatal("ReadMessage loop did not terminate")
	})
}

func FuzzZ85(f *testing.F) {
	f.Add("HelloWorld")
	f.Add("%nSc0")
	f.Add("#####")
	f.Add("%nSc1")
	f.Add("0000")
	f.Add(" 0000")
	f.Add("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Z85DecodeString(s)
		if err == nil {
			if len(b) != len(s)/5*4 {
				t.Fatalf("%d characters decode to %d bytes", len(s), len(b))
			}
			if back, err := Z85Encode(b); err != nil || back != s {
				t.Fatalf("%q decodes to % x, which encodes to %q, %v", s, b, back, err)
			}
		} else if len(s)%5 == 0 && strings.Trim(s, z85Alphabet) == "" && !z85Overflows(s) {
			t.Fatalf("valid text %q refused: %v", s, err)
		}
		k, err := ParseKey(s)
		if err == nil && (len(s) != 40 || k.String() != s) {
			t.Fatalf("ParseKey(%q) = %v", s, k)
		}
		// Any bytes, cut to a multiple of 4, survive a round trip.
		raw := []byte(s)[:len(s)/4*4]
		enc, err := Z85Encode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if dec, err := Z85DecodeString(enc); err != nil || !bytes.Equal(dec, raw) {
			t.Fatalf("% x -> %q -> % x, %v", raw, enc, dec, err)
		}
	})
}

// z85Overflows reports whether a group of s is above 2^32-1.
func z85Overflows(s string) bool {
	for i := 0; i+5 <= len(s); i += 5 {
		var v uint64
		for j := range 5 {
			v = v*85 + uint64(strings.IndexByte(z85Alphabet, s[i+j]))
		}
		if v > 0xffffffff {
			return true
		}
	}
	return false
}

// FuzzCurveClient runs a CURVE client against an in-memory server
// that sends WELCOME and READY altered by XOR masks (an empty mask
// sends the command as made; bytes past its end are appended), and
// READY metadata from the fuzzer. The client must succeed exactly
// when both commands are intact and the metadata is acceptable.
func FuzzCurveClient(f *testing.F) {
	dealerMeta, _ := Metadata{"Socket-Type": "ROUTER"}.MarshalBinary()
	f.Add([]byte{}, dealerMeta, uint64(1), []byte{})
	f.Add([]byte{}, dealerMeta, uint64(1<<63), []byte{})
	f.Add([]byte{}, []byte{}, uint64(1), []byte{})
	f.Add([]byte{}, dealerMeta[:5], uint64(1), []byte{})
	f.Add([]byte{0, 1}, dealerMeta, uint64(1), []byte{})
	f.Add(append(make([]byte, 20), 1), dealerMeta, uint64(1), []byte{})
	f.Add([]byte{}, dealerMeta, uint64(1), append(make([]byte, 30), 1))
	f.Add([]byte{}, dealerMeta, uint64(1), []byte{flagLong})
	f.Add([]byte{0, 0, 0, 'W' ^ 'E'}, dealerMeta, uint64(1), []byte{})
	fx := newFuzzFixture()
	f.Fuzz(func(t *testing.T, welcomeMask, readyMeta []byte, readyNonce uint64, readyMask []byte) {
		cfg := Config{Type: Dealer, Security: Security{Mechanism: MechanismCurve, PublicKey: fx.clientPub, SecretKey: fx.clientSec, ServerKey: fx.serverPub}}
		cli, srv := net.Pipe()
		defer srv.Close()
		deadline := time.Now().Add(5 * time.Second)
		srv.SetDeadline(deadline)
		res := make(chan error, 1)
		go func() {
			c, err := Handshake(cli, cfg, deadline)
			if c != nil {
				c.Close()
			}
			res <- err
		}()
		welcomeOK, readyOK := fuzzCurveServer(srv, fx, welcomeMask, readyMeta, readyNonce, readyMask)
		var err error
		if welcomeOK && readyOK {
			// The client has all it needs; a closed pipe would make its
			// last SetDeadline fail. An ERROR it sends is drained, as
			// net.Pipe would block its write.
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				io.Copy(io.Discard, srv)
			}()
			err = <-res
			srv.Close()
			<-drained
		} else {
			// The client may be waiting for bytes an altered size promised.
			srv.Close()
			err = <-res
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("client hung: %v", err)
		}
		m, merr := ParseMetadata(readyMeta)
		want := welcomeOK && readyOK && merr == nil && Compatible(Dealer, SocketType(m.Get("Socket-Type")))
		if want != (err == nil) {
			t.Fatalf("handshake: %v; want success %v (WELCOME intact %v, READY intact %v, metadata %v)", err, want, welcomeOK, readyOK, merr)
		}
		if err == nil {
			return
		}
		if !welcomeOK && errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("client went on after an altered WELCOME: %v", err)
		}
		if !isCurveError(err) && !errors.Is(err, ErrDenied) && !errors.Is(err, ErrIncompatible) && !errors.Is(err, ErrTooLarge) &&
			!errors.Is(err, ErrPeerError) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("unexpected error type: %v", err)
		}
	})
}

// xorMask applies mask to b, appending the bytes of mask past len(b);
// intact reports whether b's own bytes came through unchanged.
func xorMask(b, mask []byte) (out []byte, intact, extra bool) {
	out = bytes.Clone(b)
	intact = true
	for i, m := range mask {
		if i < len(out) {
			out[i] ^= m
			intact = intact && m == 0
		} else {
			out = append(out, m)
			extra = true
		}
	}
	return out, intact, extra
}

// fuzzCurveServer plays the server's side of a CURVE handshake on nc
// and reports whether the WELCOME and READY it sent were intact.
func fuzzCurveServer(nc net.Conn, fx *fuzzFixture, welcomeMask, readyMeta []byte, readyNonce uint64, readyMask []byte) (welcomeOK, readyOK bool) {
	// net.Pipe is synchronous and both sides send their greeting
	// first, so the server writes from its own goroutine.
	out := make(chan []byte, 3)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		for b := range out {
			if _, err := nc.Write(b); err != nil {
				return
			}
		}
	}()
	// The writer must have written everything before nc is closed.
	defer func() { close(out); <-wdone }()
	out <- zmtptest.Greeting(MechanismCurve, 1, true)
	r := bufio.NewReader(nc)
	var g [GreetingSize]byte
	if _, err := io.ReadFull(r, g[:]); err != nil {
		return false, false
	}
	hello, err := rawPeerRead(r)
	if err != nil || hello.Name != CmdHello || len(hello.Body) != helloBodySize {
		return false, false
	}
	// The client's C' is random: seal WELCOME and READY for it, with
	// the fixture's S' and cookie.
	var clientT [32]byte
	copy(clientT[:], hello.Body[74:106])
	wn := fixedNonce('w')
	welcome := box.Seal(wn, append(fx.serverTPub[:], fx.cookie()...), longNonce(prefixWelcome, wn), &clientT, keyPtr(fx.serverSec))
	frame, intact, extra := xorMask(zmtptest.Command(CmdWelcome, welcome), welcomeMask)
	out <- frame
	if !intact || extra {
		return false, false
	}
	init, err := rawPeerRead(r)
	if err != nil || init.Name != CmdInitiate {
		return true, false
	}
	ready := binary.BigEndian.AppendUint64(nil, readyNonce)
	ready = box.Seal(ready, readyMeta, shortNonce(prefixReady, readyNonce), &clientT, &fx.serverTSec)
	frame, intact, _ = xorMask(zmtptest.Command(CmdReady, ready), readyMask)
	out <- frame
	return true, intact
}

// TestFuzzFixtureIsValid keeps the fuzz seeds honest: the fixture's
// commands must pass, or the fuzzers would never reach their checks of
// accepted input.
func TestFuzzFixtureIsValid(t *testing.T) {
	fx := newFuzzFixture()
	if k, n, err := openHello(fx.hello(1), fx.serverSec); err != nil || *k != fx.clientTPub || n != 1 {
		t.Fatalf("openHello: %v", err)
	}
	meta, _ := Metadata{"Socket-Type": "DEALER"}.MarshalBinary()
	k, m, n, err := openInitiate(fx.initiate(2, meta), &fx.cookieKey, &fx.clientTPub, &fx.serverTSec, fx.serverPub, 1)
	if err != nil || k != fx.clientPub || !bytes.Equal(m, meta) || n != 2 {
		t.Fatalf("openInitiate: %v", err)
	}
	if fr, more, cmd, err := fx.serverCodec().open(fx.message(3, curveMore, []byte("x"))); err != nil || string(fr) != "x" || !more || cmd {
		t.Fatalf("curveCodec.open: %v", err)
	}
	if _, err := ParseKey("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"); err != nil {
		t.Fatal(err)
	}
}
