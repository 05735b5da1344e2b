package zmtp

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"

	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

// rawCurveClient is a CURVE client written for the tests, independent
// of curveClient, so that every byte it sends can be altered.
type rawCurveClient struct {
	t          *testing.T
	nc         net.Conn
	r          *bufio.Reader
	serverKey  Key
	pub, sec   Key      // long-term
	tpub, tsec [32]byte // transient
	serverT    [32]byte // the server's transient key, from WELCOME
	cookie     []byte
	sent       uint64   // last short nonce used
	shared     [32]byte // C'/S' for MESSAGE
	readyNonce uint64
	got        []string // names of the commands received

	prior         *rawCurveClient // the earlier connection, for attacks marked prior
	priorInitiate []byte          // the INITIATE it sent
}

func dialRawCurve(t *testing.T, addr string, serverKey, pub, sec Key) *rawCurveClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(15 * time.Second))
	tpub, tsec, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &rawCurveClient{t: t, nc: nc, r: bufio.NewReader(nc), serverKey: serverKey, pub: pub, sec: sec, tpub: *tpub, tsec: *tsec}
}

func (rc *rawCurveClient) send(b []byte) error {
	_, err := rc.nc.Write(b)
	return err
}

// greet sends g and reads the server's greeting.
func (rc *rawCurveClient) greet(g []byte) error {
	if err := rc.send(g); err != nil {
		return err
	}
	var b [GreetingSize]byte
	if _, err := io.ReadFull(rc.r, b[:]); err != nil {
		return err
	}
	_, err := ParseGreeting(b[:])
	return err
}

// readCommand reads one command frame; an ERROR is returned as an error.
func (rc *rawCurveClient) readCommand(want string) ([]byte, error) {
	h, err := readFrameHeader(rc.r)
	if err != nil {
		return nil, err
	}
	body, err := readBody(rc.r, h.size, nil)
	if err != nil {
		return nil, err
	}
	cmd, err := ParseCommand(body)
	if err != nil {
		return nil, err
	}
	rc.got = append(rc.got, cmd.Name)
	if cmd.Name != want {
		return nil, fmt.Errorf("got %s, want %s", cmd.Name, want)
	}
	return cmd.Body, nil
}

// helloSpec is what goes into a HELLO.
type helloSpec struct {
	name      string
	version   [2]byte
	nonce     uint64
	sealFor   Key    // the server key the signature box is sealed for
	signature []byte // 64 zero bytes when right
}

func (rc *rawCurveClient) defaultHello() helloSpec {
	return helloSpec{name: CmdHello, version: [2]byte{1, 0}, nonce: 1, sealFor: rc.serverKey, signature: make([]byte, 64)}
}

func (rc *rawCurveClient) helloFrame(h helloSpec) []byte {
	body := append([]byte{h.version[0], h.version[1]}, make([]byte, 72)...)
	body = append(body, rc.tpub[:]...)
	body = binary.BigEndian.AppendUint64(body, h.nonce)
	body = box.Seal(body, h.signature, shortNonce(prefixHello, h.nonce), keyPtr(h.sealFor), &rc.tsec)
	rc.sent = h.nonce
	return zmtptest.Command(h.name, body)
}

// welcome reads and opens WELCOME.
func (rc *rawCurveClient) welcome() error {
	w, err := rc.readCommand(CmdWelcome)
	if err != nil {
		return err
	}
	if len(w) != 160 {
		return fmt.Errorf("WELCOME of %d bytes", len(w))
	}
	opened, ok := box.Open(nil, w[16:], longNonce(prefixWelcome, w[:16]), keyPtr(rc.serverKey), &rc.tsec)
	if !ok {
		return errors.New("WELCOME does not open")
	}
	copy(rc.serverT[:], opened[:32])
	rc.cookie = opened[32:]
	return nil
}

// initiateSpec is what goes into an INITIATE.
type initiateSpec struct {
	name           string
	cookie         []byte
	nonce          uint64
	clientKey      Key      // C, as announced
	vouchSigner    Key      // the secret key that seals the vouch
	vouchTransient [32]byte // C' as named in the vouch
	vouchServer    Key      // S as named in the vouch
	vouchFor       [32]byte // the transient key the vouch is sealed for (S')
	sealSecret     [32]byte // the transient secret that seals the box (C')
	sealFor        [32]byte // the transient key the box is sealed for (S')
	meta           []byte
}

func (rc *rawCurveClient) defaultInitiate() initiateSpec {
	meta, _ := Metadata{"Socket-Type": "DEALER"}.MarshalBinary()
	return initiateSpec{
		name: CmdInitiate, cookie: rc.cookie, nonce: rc.sent + 1,
		clientKey: rc.pub, vouchSigner: rc.sec, vouchTransient: rc.tpub, vouchServer: rc.serverKey,
		vouchFor: rc.serverT, sealSecret: rc.tsec, sealFor: rc.serverT, meta: meta,
	}
}

func (rc *rawCurveClient) initiateFrame(s initiateSpec) []byte {
	vn := make([]byte, 16)
	rand.Read(vn)
	vouch := box.Seal(vn, append(s.vouchTransient[:], s.vouchServer[:]...), longNonce(prefixVouch, vn), &s.vouchFor, keyPtr(s.vouchSigner))
	plain := append(append(append([]byte(nil), s.clientKey[:]...), vouch...), s.meta...)
	body := append([]byte(nil), s.cookie...)
	body = binary.BigEndian.AppendUint64(body, s.nonce)
	body = box.Seal(body, plain, shortNonce(prefixInitiate, s.nonce), &s.sealFor, &s.sealSecret)
	rc.sent = s.nonce
	return zmtptest.Command(s.name, body)
}

// ready reads and opens READY, and readies the MESSAGE keys.
func (rc *rawCurveClient) ready() error {
	b, err := rc.readCommand(CmdReady)
	if err != nil {
		return err
	}
	if len(b) < 24 {
		return fmt.Errorf("READY of %d bytes", len(b))
	}
	rc.readyNonce = binary.BigEndian.Uint64(b[:8])
	meta, ok := box.Open(nil, b[8:], shortNonce(prefixReady, rc.readyNonce), &rc.serverT, &rc.tsec)
	if !ok {
		return errors.New("READY does not open")
	}
	if m, err := ParseMetadata(meta); err != nil || m.Get("Socket-Type") != "ROUTER" {
		return fmt.Errorf("READY metadata %q, %v", meta, err)
	}
	box.Precompute(&rc.shared, &rc.serverT, &rc.tsec)
	return nil
}

// handshake runs a correct handshake.
func (rc *rawCurveClient) handshake() error {
	if err := rc.greet(zmtptest.Greeting(MechanismCurve, 1, false)); err != nil {
		return err
	}
	if err := rc.send(rc.helloFrame(rc.defaultHello())); err != nil {
		return err
	}
	if err := rc.welcome(); err != nil {
		return err
	}
	if err := rc.send(rc.initiateFrame(rc.defaultInitiate())); err != nil {
		return err
	}
	return rc.ready()
}

// message returns a MESSAGE frame carrying payload behind inner flags,
// sealed with nonce and the client's direction prefix.
func (rc *rawCurveClient) message(flags byte, payload []byte, nonce uint64) []byte {
	return rc.messageWith(prefixMsgC, flags, payload, nonce)
}

func (rc *rawCurveClient) messageWith(prefix string, flags byte, payload []byte, nonce uint64) []byte {
	body := binary.BigEndian.AppendUint64(nil, nonce)
	body = box.SealAfterPrecomputation(body, append([]byte{flags}, payload...), shortNonce(prefix, nonce), &rc.shared)
	return zmtptest.Command(CmdMessage, body)
}

// next returns the next MESSAGE nonce.
func (rc *rawCurveClient) next() uint64 {
	rc.sent++
	return rc.sent
}

// curveAttack is one way of getting the handshake or the traffic wrong.
type curveAttack struct {
	name string
	// greeting, when set, replaces the CURVE greeting; nothing else of
	// the handshake is sent.
	greeting []byte
	// raw, when set, is sent right after the greeting instead of HELLO.
	raw      func(rc *rawCurveClient) []byte
	hello    func(rc *rawCurveClient, h *helloSpec)
	helloB   func(frame []byte) []byte // alters the HELLO frame as sent
	initiate func(rc *rawCurveClient, s *initiateSpec)
	initB    func(frame []byte) []byte // alters the INITIATE frame as sent
	// initiateFrame, when set, replaces the INITIATE frame.
	initiateFrame func(rc *rawCurveClient) []byte
	// messages returns the frames sent after READY.
	messages func(rc *rawCurveClient) [][]byte
	// prior, when set, first runs a good handshake on another
	// connection, whose client is passed to the hooks.
	prior bool

	want      error
	inRead    bool       // the server fails in ReadMessage, not Handshake
	delivered [][][]byte // what the server may deliver before failing
	wantERROR bool       // the server says why in ERROR
}

func flipAt(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		b = bytes.Clone(b)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x20
		return b
	}
}

// frameBody helpers: a HELLO/INITIATE command frame built by
// zmtptest.Command has a 2- or 9-byte header, then 1+len(name) bytes.
func bodyOffset(frame []byte) int {
	if frame[0]&flagLong != 0 {
		return 9 + 1 + int(frame[9])
	}
	return 2 + 1 + int(frame[2])
}

// resize rebuilds a command frame with its body cut or extended by n bytes.
func resize(n int) func([]byte) []byte {
	return func(frame []byte) []byte {
		body := bytes.Clone(frame[bodyOffset(frame):])
		if n < 0 {
			body = body[:len(body)+n]
		} else {
			body = append(body, make([]byte, n)...)
		}
		return zmtptest.Command(commandName(frame), body)
	}
}

// commandName returns the name of a command frame built by zmtptest.
func commandName(frame []byte) string {
	h := 2
	if frame[0]&flagLong != 0 {
		h = 9
	}
	return string(frame[h+1 : h+1+int(frame[h])])
}

func curveAttacks(strangerPub, strangerSec, otherServerPub Key) []curveAttack {
	msg := func(rc *rawCurveClient, s string) []byte { return rc.message(0, []byte(s), rc.next()) }
	one := [][][]byte{{[]byte("one")}}
	return []curveAttack{
		// Mechanism and framing.
		{name: "NULL greeting then a message", greeting: append(zmtptest.NullGreeting(), zmtptest.Message([]byte("downgraded"))...), want: ErrMechanism, wantERROR: true},
		{name: "PLAIN greeting then a PLAIN HELLO", greeting: append(zmtptest.Greeting(MechanismPlain, 1, false), zmtptest.Command(CmdHello, []byte("\x01u\x01p"))...), want: ErrMechanism, wantERROR: true},
		{name: "message instead of HELLO", raw: func(*rawCurveClient) []byte { return zmtptest.Message([]byte("early")) }, want: ErrProtocol},
		{name: "NULL READY instead of HELLO", raw: func(*rawCurveClient) []byte { return zmtptest.ReadyType("DEALER") }, want: ErrProtocol},
		{name: "HELLO over 64 KiB", raw: func(*rawCurveClient) []byte { return zmtptest.Command(CmdHello, make([]byte, 70000)) }, want: ErrTooLarge},

		// HELLO.
		{name: "HELLO one byte short", helloB: resize(-1), want: ErrProtocol},
		{name: "HELLO one byte long", helloB: resize(1), want: ErrProtocol},
		{name: "HELLO empty", helloB: resize(-194), want: ErrProtocol},
		{name: "HELLO wrong command name", hello: func(_ *rawCurveClient, h *helloSpec) { h.name = "HELLP" }, want: ErrProtocol},
		{name: "HELLO lower-case name", hello: func(_ *rawCurveClient, h *helloSpec) { h.name = "hello" }, want: ErrProtocol},
		{name: "HELLO version 1.1", hello: func(_ *rawCurveClient, h *helloSpec) { h.version = [2]byte{1, 1} }, want: ErrProtocol},
		{name: "HELLO version 2.0", hello: func(_ *rawCurveClient, h *helloSpec) { h.version = [2]byte{2, 0} }, want: ErrProtocol},
		{name: "HELLO sealed for another server", hello: func(_ *rawCurveClient, h *helloSpec) { h.sealFor = otherServerPub }, want: ErrCrypto},
		{name: "HELLO signature not zero", hello: func(_ *rawCurveClient, h *helloSpec) { h.signature = bytes.Repeat([]byte{1}, 64) }, want: ErrCrypto},
		{name: "HELLO signature box flipped", helloB: flipAt(-1), want: ErrCrypto},
		{name: "HELLO transient key flipped", helloB: flipAt(2 + 6 + 74), want: ErrCrypto},
		{name: "HELLO nonce flipped", helloB: flipAt(2 + 6 + 106 + 7), want: ErrCrypto},

		// INITIATE: cookie.
		{name: "INITIATE cookie box flipped", initB: flipAt(9 + 9 + 40), want: ErrCrypto},
		{name: "INITIATE cookie nonce flipped", initB: flipAt(9 + 9 + 3), want: ErrCrypto},
		{name: "INITIATE cookie from another connection", prior: true, want: ErrCrypto,
			initiate: func(rc *rawCurveClient, s *initiateSpec) { s.cookie = priorOf(rc).cookie }},
		{name: "INITIATE replayed from another connection", prior: true, want: ErrCrypto,
			// Same transient key as the earlier connection, so that only
			// the cookie can tell the two handshakes apart.
			hello:         func(rc *rawCurveClient, h *helloSpec) { rc.tpub, rc.tsec = priorOf(rc).tpub, priorOf(rc).tsec },
			initiateFrame: func(rc *rawCurveClient) []byte { return rc.prior.priorInitiate }},
		{name: "INITIATE without a cookie", initiate: func(_ *rawCurveClient, s *initiateSpec) { s.cookie = make([]byte, cookieSize) }, want: ErrCrypto},

		// INITIATE: nonce and box.
		{name: "INITIATE nonce equal to HELLO's", initiate: func(_ *rawCurveClient, s *initiateSpec) { s.nonce = 1 }, want: ErrCrypto},
		{name: "INITIATE nonce below HELLO's", initiate: func(_ *rawCurveClient, s *initiateSpec) { s.nonce = 0 }, want: ErrCrypto},
		{name: "INITIATE nonce below a large HELLO nonce", hello: func(_ *rawCurveClient, h *helloSpec) { h.nonce = 1000 },
			initiate: func(_ *rawCurveClient, s *initiateSpec) { s.nonce = 999 }, want: ErrCrypto},
		{name: "INITIATE box flipped", initB: flipAt(-1), want: ErrCrypto},
		{name: "INITIATE sealed by another transient key", want: ErrCrypto,
			initiate: func(_ *rawCurveClient, s *initiateSpec) {
				_, other, _ := box.GenerateKey(rand.Reader)
				s.sealSecret = *other
			}},
		{name: "INITIATE one byte short of the minimum", want: ErrProtocol,
			initB: func(frame []byte) []byte {
				off := bodyOffset(frame)
				return zmtptest.Command(CmdInitiate, frame[off:off+minInitiate-1])
			}},
		{name: "INITIATE wrong command name", initiate: func(_ *rawCurveClient, s *initiateSpec) { s.name = "INITIATF" }, want: ErrProtocol},
		{name: "message instead of INITIATE", initB: func([]byte) []byte { return zmtptest.Message([]byte("early")) }, want: ErrProtocol},
		{name: "ERROR instead of INITIATE", initB: func([]byte) []byte { return zmtptest.Command(CmdError, []byte("\x03bye")) }, want: ErrPeerError},

		// INITIATE: vouch.
		{name: "vouch signed with another long-term key", want: ErrCrypto,
			initiate: func(_ *rawCurveClient, s *initiateSpec) { s.vouchSigner = strangerSec }},
		{name: "vouch of a key the client does not hold", want: ErrCrypto,
			// The client claims the stranger's key with its own vouch.
			initiate: func(_ *rawCurveClient, s *initiateSpec) { s.clientKey = strangerPub }},
		{name: "vouch naming another server key", want: ErrCrypto,
			initiate: func(_ *rawCurveClient, s *initiateSpec) { s.vouchServer = otherServerPub }},
		{name: "vouch naming another transient key", want: ErrCrypto,
			initiate: func(_ *rawCurveClient, s *initiateSpec) {
				other, _, _ := box.GenerateKey(rand.Reader)
				s.vouchTransient = *other
			}},
		{name: "vouch sealed for another server transient key", want: ErrCrypto,
			initiate: func(_ *rawCurveClient, s *initiateSpec) {
				other, _, _ := box.GenerateKey(rand.Reader)
				s.vouchFor = *other
			}},
		{name: "vouch from the earlier connection", prior: true, want: ErrCrypto,
			// A vouch is bound to one C' and one S': the earlier client's
			// long-term key and vouch, replayed inside a fresh box.
			initiate: func(rc *rawCurveClient, s *initiateSpec) {
				p := priorOf(rc)
				s.vouchTransient, s.vouchFor = p.tpub, p.serverT
			}},

		// INITIATE: admission and metadata.
		{name: "unknown client key", want: ErrDenied, wantERROR: true,
			initiate: func(_ *rawCurveClient, s *initiateSpec) { s.clientKey, s.vouchSigner = strangerPub, strangerSec }},
		{name: "INITIATE with truncated metadata", want: ErrProtocol,
			initiate: func(_ *rawCurveClient, s *initiateSpec) { s.meta = s.meta[:len(s.meta)-1] }},
		{name: "INITIATE with incompatible socket type", want: ErrIncompatible, wantERROR: true,
			initiate: func(_ *rawCurveClient, s *initiateSpec) { s.meta, _ = Metadata{"Socket-Type": "PUB"}.MarshalBinary() }},

		// MESSAGE, after a good handshake.
		{name: "replayed MESSAGE", inRead: true, want: ErrCrypto, delivered: one,
			messages: func(rc *rawCurveClient) [][]byte { m := msg(rc, "one"); return [][]byte{m, m} }},
		{name: "replayed MESSAGE then a fresh one", inRead: true, want: ErrCrypto, delivered: one,
			messages: func(rc *rawCurveClient) [][]byte { m := msg(rc, "one"); return [][]byte{m, m, msg(rc, "two")} }},
		{name: "MESSAGE with a smaller nonce", inRead: true, want: ErrCrypto, delivered: one,
			messages: func(rc *rawCurveClient) [][]byte {
				return [][]byte{rc.message(0, []byte("one"), 10), rc.message(0, []byte("nine"), 9)}
			}},
		{name: "MESSAGE with INITIATE's nonce", inRead: true, want: ErrCrypto,
			messages: func(rc *rawCurveClient) [][]byte { return [][]byte{rc.message(0, []byte("x"), rc.sent)} }},
		{name: "MESSAGE ciphertext flipped", inRead: true, want: ErrCrypto,
			messages: func(rc *rawCurveClient) [][]byte { return [][]byte{flipAt(-2)(msg(rc, "x"))} }},
		{name: "MESSAGE nonce changed", inRead: true, want: ErrCrypto,
			messages: func(rc *rawCurveClient) [][]byte { return [][]byte{flipAt(2 + 8 + 7)(msg(rc, "x"))} }},
		{name: "MESSAGE sealed in the server's direction", inRead: true, want: ErrCrypto,
			messages: func(rc *rawCurveClient) [][]byte {
				return [][]byte{rc.messageWith(prefixMsgS, 0, []byte("reflected"), rc.next())}
			}},
		{name: "MESSAGE with nothing sealed", inRead: true, want: ErrProtocol,
			messages: func(rc *rawCurveClient) [][]byte {
				n := rc.next()
				body := box.SealAfterPrecomputation(binary.BigEndian.AppendUint64(nil, n), nil, shortNonce(prefixMsgC, n), &rc.shared)
				return [][]byte{zmtptest.Command(CmdMessage, body)}
			}},
		{name: "MESSAGE of 10 bytes", inRead: true, want: ErrProtocol,
			messages: func(*rawCurveClient) [][]byte { return [][]byte{zmtptest.Command(CmdMessage, make([]byte, 10))} }},
		{name: "MESSAGE inner flags more+command", inRead: true, want: ErrProtocol,
			messages: func(rc *rawCurveClient) [][]byte {
				return [][]byte{rc.message(curveMore|curveCommand, []byte("\x04PING\x00\x00"), rc.next())}
			}},
		{name: "MESSAGE inner flag 0x04", inRead: true, want: ErrProtocol,
			messages: func(rc *rawCurveClient) [][]byte { return [][]byte{rc.message(0x04, []byte("x"), rc.next())} }},
		{name: "MESSAGE inner flag 0x80", inRead: true, want: ErrProtocol,
			messages: func(rc *rawCurveClient) [][]byte { return [][]byte{rc.message(0x80, []byte("x"), rc.next())} }},
		{name: "sealed command inside a multipart message", inRead: true, want: ErrProtocol,
			messages: func(rc *rawCurveClient) [][]byte {
				return [][]byte{rc.message(curveMore, []byte("part"), rc.next()), rc.message(curveCommand, []byte("\x04PING\x00\x00"), rc.next())}
			}},
		{name: "clear-text message after the handshake", inRead: true, want: ErrProtocol,
			messages: func(*rawCurveClient) [][]byte { return [][]byte{zmtptest.Message([]byte("clear"))} }},
		{name: "clear-text SUBSCRIBE after the handshake", inRead: true, want: ErrProtocol,
			messages: func(*rawCurveClient) [][]byte { return [][]byte{zmtptest.Command(CmdSubscribe, []byte("topic"))} }},
		{name: "clear-text PING after the handshake", inRead: true, want: ErrProtocol,
			messages: func(*rawCurveClient) [][]byte { return [][]byte{zmtptest.Command(CmdPing, []byte{0, 0})} }},
		{name: "MESSAGE over the size limit", inRead: true, want: ErrTooLarge,
			messages: func(*rawCurveClient) [][]byte {
				return [][]byte{append(zmtptest.FrameHeader(flagCommand, 2<<20), "\x07MESSAGE"...)}
			}},
		{name: "MESSAGE truncated multipart", inRead: true, want: io.ErrUnexpectedEOF,
			messages: func(rc *rawCurveClient) [][]byte {
				return [][]byte{rc.message(curveMore, []byte("first of two"), rc.next()), nil}
			}},
	}
}

// priorOf returns the client of the earlier connection, for the
// attacks marked prior.
func priorOf(rc *rawCurveClient) *rawCurveClient { return rc.prior }

// TestCurveServerRejects drives a CURVE server with a raw client that
// gets one thing wrong. The server must fail with the right error,
// deliver no message, close the connection, and serve a good client
// afterwards.
func TestCurveServerRejects(t *testing.T) {
	serverPub, serverSec := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	strangerPub, strangerSec := newKeyPair(t)
	otherServerPub, _ := newKeyPair(t)
	auth := AuthFunc(func(r AuthRequest) (string, error) {
		if r.ClientKey != clientPub {
			return "", errors.New("unknown key")
		}
		return "client", nil
	})
	server := Config{Type: Router, MaxMessageSize: 1 << 20, Security: Security{Mechanism: MechanismCurve, Server: true, PublicKey: serverPub, SecretKey: serverSec, Auth: auth}}
	good := Config{Type: Dealer, Security: Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: serverPub}}

	for _, a := range curveAttacks(strangerPub, strangerSec, otherServerPub) {
		t.Run(a.name, func(t *testing.T) {
			srv := startSecServer(t, server, 10*time.Second)
			var prior *rawCurveClient
			if a.prior {
				p := dialRawCurve(t, srv.addr(), serverPub, clientPub, clientSec)
				// Run the earlier handshake by hand to keep its INITIATE.
				if err := p.greet(zmtptest.Greeting(MechanismCurve, 1, false)); err != nil {
					t.Fatal(err)
				}
				if err := p.send(p.helloFrame(p.defaultHello())); err != nil {
					t.Fatal(err)
				}
				if err := p.welcome(); err != nil {
					t.Fatal(err)
				}
				p.priorInitiate = p.initiateFrame(p.defaultInitiate())
				if err := p.send(p.priorInitiate); err != nil {
					t.Fatal(err)
				}
				if err := p.ready(); err != nil {
					t.Fatal(err)
				}
				p.nc.Close()
				if o := srv.next(t); o.hsErr != nil {
					t.Fatalf("the earlier handshake failed: %v", o.hsErr)
				}
				prior = p
			}
			rc := dialRawCurve(t, srv.addr(), serverPub, clientPub, clientSec)
			rc.prior = prior
			err := runAttack(rc, a)
			t.Logf("raw client stopped at: %v", err)
			wire := closedByPeer(t, rc.nc)

			o := srv.next(t)
			got := o.hsErr
			if a.inRead {
				if o.hsErr != nil {
					t.Fatalf("handshake failed: %v", o.hsErr)
				}
				got = o.readErr
			}
			if !errors.Is(got, a.want) {
				t.Fatalf("server: %v (handshake %v), want %v", got, o.hsErr, a.want)
			}
			if !equalMsgs(o.msgs, a.delivered) {
				t.Fatalf("server delivered %q, want %q", o.msgs, a.delivered)
			}
			sawError := hasCommand(wire, CmdError) || contains(rc.got, CmdError)
			if sawError != a.wantERROR {
				t.Errorf("ERROR sent: %v, want %v", sawError, a.wantERROR)
			}
			srv.checkGoodClient(t, good)
		})
	}
}

// runAttack plays the attack up to the first step that fails.
func runAttack(rc *rawCurveClient, a curveAttack) error {
	if a.greeting != nil {
		return rc.send(a.greeting)
	}
	if err := rc.greet(zmtptest.Greeting(MechanismCurve, 1, false)); err != nil {
		return err
	}
	if a.raw != nil {
		return rc.send(a.raw(rc))
	}
	h := rc.defaultHello()
	if a.hello != nil {
		a.hello(rc, &h)
	}
	frame := rc.helloFrame(h)
	if a.helloB != nil {
		frame = a.helloB(frame)
	}
	if err := rc.send(frame); err != nil {
		return err
	}
	if err := rc.welcome(); err != nil {
		return err
	}
	s := rc.defaultInitiate()
	if a.initiate != nil {
		a.initiate(rc, &s)
	}
	frame = rc.initiateFrame(s)
	if a.initB != nil {
		frame = a.initB(frame)
	}
	if a.initiateFrame != nil {
		frame = a.initiateFrame(rc)
	}
	if err := rc.send(frame); err != nil {
		return err
	}
	if err := rc.ready(); err != nil {
		return err
	}
	if a.messages == nil {
		return errors.New("attack has nothing to send after READY")
	}
	for _, m := range a.messages(rc) {
		if m == nil {
			// Stop writing: the server sees the end of the stream.
			rc.nc.(*net.TCPConn).CloseWrite()
			break
		}
		if err := rc.send(m); err != nil {
			return err
		}
	}
	return nil
}

func equalMsgs(a, b [][][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if !bytes.Equal(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCurveRawClientInterop checks the server against the raw client's
// independent reading of RFC 26, both ways, messages and commands.
func TestCurveRawClientInterop(t *testing.T) {
	serverPub, serverSec := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	server := Config{Type: Router, Security: Security{Mechanism: MechanismCurve, Server: true, PublicKey: serverPub, SecretKey: serverSec}}
	srv := startSecServer(t, server, 10*time.Second)
	rc := dialRawCurve(t, srv.addr(), serverPub, clientPub, clientSec)
	if err := rc.handshake(); err != nil {
		t.Fatal(err)
	}
	if rc.readyNonce != 1 {
		t.Errorf("READY nonce %d", rc.readyNonce)
	}
	// A three-frame message, a PING in between.
	out := [][]byte{
		rc.message(curveMore, []byte("a"), rc.next()),
		rc.message(curveMore, nil, rc.next()),
		rc.message(0, bytes.Repeat([]byte{'c'}, 70000), rc.next()),
		rc.message(curveCommand, []byte("\x04PING\x00\x0aping-ctx"), rc.next()),
	}
	for _, m := range out {
		if err := rc.send(m); err != nil {
			t.Fatal(err)
		}
	}
	// The echo: three MESSAGEs with increasing nonces, then the PONG.
	var nonce uint64 = rc.readyNonce
	wantFrames := []struct {
		flags   byte
		payload []byte
	}{
		{curveMore, []byte("a")}, {curveMore, nil}, {0, bytes.Repeat([]byte{'c'}, 70000)}, {curveCommand, []byte("\x04PONGping-ctx")},
	}
	for i, w := range wantFrames {
		b, err := rc.readCommand(CmdMessage)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		n := binary.BigEndian.Uint64(b[:8])
		if n <= nonce {
			t.Fatalf("frame %d: nonce %d after %d", i, n, nonce)
		}
		nonce = n
		plain, ok := box.OpenAfterPrecomputation(nil, b[8:], shortNonce(prefixMsgS, n), &rc.shared)
		if !ok {
			t.Fatalf("frame %d does not open", i)
		}
		if plain[0] != w.flags || !bytes.Equal(plain[1:], w.payload) {
			t.Fatalf("frame %d: flags %#x, %d bytes", i, plain[0], len(plain)-1)
		}
	}
	rc.nc.Close()
	o := srv.next(t)
	if len(o.msgs) != 1 || len(o.msgs[0]) != 3 || o.auth.ClientKey != clientPub {
		t.Fatalf("server: %d messages, auth %+v", len(o.msgs), o.auth)
	}
}

// rawCurveServer is a CURVE server written for the tests, to feed a
// zmp client bad WELCOME and READY commands.
type rawCurveServer struct {
	nc         net.Conn
	r          *bufio.Reader
	pub, sec   Key
	clientT    [32]byte
	tpub, tsec [32]byte
	clientKey  Key
	shared     [32]byte
}

// helloAndTransient reads the greeting and HELLO, and makes S'.
func (rs *rawCurveServer) hello() error {
	var g [GreetingSize]byte
	if _, err := io.ReadFull(rs.r, g[:]); err != nil {
		return err
	}
	b, err := rs.readCommand(CmdHello)
	if err != nil {
		return err
	}
	if len(b) != 194 {
		return fmt.Errorf("HELLO of %d bytes", len(b))
	}
	copy(rs.clientT[:], b[74:106])
	n := binary.BigEndian.Uint64(b[106:114])
	sig, ok := box.Open(nil, b[114:], shortNonce(prefixHello, n), &rs.clientT, keyPtr(rs.sec))
	if !ok || !bytes.Equal(sig, make([]byte, 64)) {
		return errors.New("HELLO does not open")
	}
	tpub, tsec, _ := box.GenerateKey(rand.Reader)
	rs.tpub, rs.tsec = *tpub, *tsec
	box.Precompute(&rs.shared, &rs.clientT, &rs.tsec)
	return nil
}

func (rs *rawCurveServer) readCommand(want string) ([]byte, error) {
	h, err := readFrameHeader(rs.r)
	if err != nil {
		return nil, err
	}
	body, err := readBody(rs.r, h.size, nil)
	if err != nil {
		return nil, err
	}
	cmd, err := ParseCommand(body)
	if err != nil {
		return nil, err
	}
	if cmd.Name != want {
		return nil, fmt.Errorf("got %s, want %s", cmd.Name, want)
	}
	return cmd.Body, nil
}

// welcomeBody seals S' and a cookie from signer for the key to.
func (rs *rawCurveServer) welcomeBody(signer Key, to [32]byte) []byte {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	cookie := make([]byte, cookieSize) // the client does not look inside
	var ck [32]byte
	rand.Read(ck[:])
	cookie = secretbox.Seal(cookie[:16], append(rs.clientT[:], rs.tsec[:]...), longNonce(prefixCookie, cookie[:16]), &ck)
	return box.Seal(nonce, append(rs.tpub[:], cookie...), longNonce(prefixWelcome, nonce), &to, keyPtr(signer))
}

// initiate reads INITIATE and checks it as RFC 26 says.
func (rs *rawCurveServer) initiate() error {
	b, err := rs.readCommand(CmdInitiate)
	if err != nil {
		return err
	}
	if len(b) < 96+8+16+128 {
		return fmt.Errorf("INITIATE of %d bytes", len(b))
	}
	n := binary.BigEndian.Uint64(b[96:104])
	plain, ok := box.Open(nil, b[104:], shortNonce(prefixInitiate, n), &rs.clientT, &rs.tsec)
	if !ok {
		return errors.New("INITIATE does not open")
	}
	copy(rs.clientKey[:], plain[:32])
	vouch := plain[32:128]
	v, ok := box.Open(nil, vouch[16:], longNonce(prefixVouch, vouch[:16]), keyPtr(rs.clientKey), &rs.tsec)
	if !ok || !bytes.Equal(v[:32], rs.clientT[:]) || !bytes.Equal(v[32:], rs.pub[:]) {
		return errors.New("bad vouch")
	}
	m, err := ParseMetadata(plain[128:])
	if err != nil || m.Get("Socket-Type") != "DEALER" {
		return fmt.Errorf("INITIATE metadata %v, %v", m, err)
	}
	return nil
}

// readyBody seals meta with nonce under prefix.
func (rs *rawCurveServer) readyBody(prefix string, nonce uint64, meta []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, nonce)
	return box.SealAfterPrecomputation(b, meta, shortNonce(prefix, nonce), &rs.shared)
}

// curveServerScript is one way for a server to get its side wrong;
// each hook returns the bytes to send in place of the good command.
type curveServerScript struct {
	name      string
	greeting  []byte
	welcome   func(rs *rawCurveServer) []byte
	ready     func(rs *rawCurveServer) []byte
	after     func(rs *rawCurveServer) []byte // sent after a good READY
	want      error
	inRead    bool
	delivered int // good messages before the bad one
}

func TestCurveClientRejects(t *testing.T) {
	serverPub, serverSec := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	_, otherSec := newKeyPair(t)
	dealer, _ := Metadata{"Socket-Type": "ROUTER"}.MarshalBinary()
	goodWelcome := func(rs *rawCurveServer) []byte {
		return zmtptest.Command(CmdWelcome, rs.welcomeBody(rs.sec, rs.clientT))
	}
	goodReady := func(rs *rawCurveServer) []byte {
		return zmtptest.Command(CmdReady, rs.readyBody(prefixReady, 1, dealer))
	}
	message := func(rs *rawCurveServer, nonce uint64, flags byte, payload string) []byte {
		return zmtptest.Command(CmdMessage, rs.readyBody(prefixMsgS, nonce, append([]byte{flags}, payload...)))
	}
	scripts := []curveServerScript{
		{name: "NULL greeting", greeting: zmtptest.NullGreeting(), want: ErrMechanism},
		{name: "WELCOME one byte short", want: ErrProtocol,
			welcome: func(rs *rawCurveServer) []byte { return resize(-1)(goodWelcome(rs)) }},
		{name: "WELCOME one byte long", want: ErrProtocol,
			welcome: func(rs *rawCurveServer) []byte { return resize(1)(goodWelcome(rs)) }},
		{name: "WELCOME box flipped", want: ErrCrypto,
			welcome: func(rs *rawCurveServer) []byte { return flipAt(-1)(goodWelcome(rs)) }},
		{name: "WELCOME nonce flipped", want: ErrCrypto,
			welcome: func(rs *rawCurveServer) []byte { return flipAt(2 + 8 + 3)(goodWelcome(rs)) }},
		{name: "WELCOME from another server key", want: ErrCrypto,
			welcome: func(rs *rawCurveServer) []byte {
				return zmtptest.Command(CmdWelcome, rs.welcomeBody(otherSec, rs.clientT))
			}},
		{name: "WELCOME for another client", want: ErrCrypto,
			welcome: func(rs *rawCurveServer) []byte {
				other, _, _ := box.GenerateKey(rand.Reader)
				return zmtptest.Command(CmdWelcome, rs.welcomeBody(rs.sec, *other))
			}},
		{name: "ERROR instead of WELCOME", want: ErrDenied,
			welcome: func(*rawCurveServer) []byte { return zmtptest.Command(CmdError, []byte("\x03400")) }},
		{name: "READY instead of WELCOME", want: ErrProtocol,
			welcome: func(rs *rawCurveServer) []byte { return goodReady(rs) }},
		{name: "message instead of WELCOME", want: ErrProtocol,
			welcome: func(*rawCurveServer) []byte { return zmtptest.Message([]byte("hi")) }},
		{name: "WELCOME over 64 KiB", want: ErrTooLarge,
			welcome: func(*rawCurveServer) []byte { return zmtptest.Command(CmdWelcome, make([]byte, 70000)) }},
		{name: "READY box flipped", want: ErrCrypto,
			ready: func(rs *rawCurveServer) []byte { return flipAt(-1)(goodReady(rs)) }},
		{name: "READY sealed with the INITIATE prefix", want: ErrCrypto,
			ready: func(rs *rawCurveServer) []byte {
				return zmtptest.Command(CmdReady, rs.readyBody(prefixInitiate, 1, dealer))
			}},
		{name: "READY in clear text", want: ErrCrypto,
			ready: func(*rawCurveServer) []byte {
				return zmtptest.Ready(Metadata{"Socket-Type": "ROUTER", "X-Pad": "0123456789"})
			}},
		{name: "READY too short", want: ErrProtocol,
			ready: func(*rawCurveServer) []byte { return zmtptest.Command(CmdReady, make([]byte, 23)) }},
		{name: "ERROR instead of READY", want: ErrDenied,
			ready: func(*rawCurveServer) []byte { return zmtptest.Command(CmdError, []byte("\x03400")) }},
		{name: "READY with bad metadata", want: ErrProtocol,
			ready: func(rs *rawCurveServer) []byte {
				return zmtptest.Command(CmdReady, rs.readyBody(prefixReady, 1, dealer[:len(dealer)-1]))
			}},
		{name: "READY with incompatible socket type", want: ErrIncompatible,
			ready: func(rs *rawCurveServer) []byte {
				pub, _ := Metadata{"Socket-Type": "PUB"}.MarshalBinary()
				return zmtptest.Command(CmdReady, rs.readyBody(prefixReady, 1, pub))
			}},
		{name: "MESSAGE with READY's nonce", inRead: true, want: ErrCrypto,
			after: func(rs *rawCurveServer) []byte { return message(rs, 1, 0, "x") }},
		{name: "replayed MESSAGE", inRead: true, want: ErrCrypto, delivered: 1,
			after: func(rs *rawCurveServer) []byte {
				m := message(rs, 2, 0, "x")
				return append(m, m...)
			}},
		{name: "MESSAGE sealed in the client's direction", inRead: true, want: ErrCrypto,
			after: func(rs *rawCurveServer) []byte {
				return zmtptest.Command(CmdMessage, rs.readyBody(prefixMsgC, 2, []byte("\x00x")))
			}},
		{name: "MESSAGE inner flags 0x03", inRead: true, want: ErrProtocol,
			after: func(rs *rawCurveServer) []byte { return message(rs, 2, 3, "\x04PING\x00\x00") }},
	}
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			cfg := Config{Type: Dealer, Security: Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: serverPub}}
			peer, res := rawPeer(t, cfg, 10*time.Second)
			peer.SetDeadline(time.Now().Add(15 * time.Second))
			rs := &rawCurveServer{nc: peer, r: bufio.NewReader(peer), pub: serverPub, sec: serverSec}
			err := playServer(rs, sc, goodWelcome, goodReady)
			t.Logf("raw server stopped at: %v", err)
			var r hsResult
			select {
			case r = <-res:
			case <-time.After(15 * time.Second):
				t.Fatal("the client's handshake did not end")
			}
			got := r.err
			if sc.inRead {
				if r.err != nil {
					t.Fatalf("handshake: %v", r.err)
				}
				var err error
				for i := 0; err == nil; i++ {
					var msg [][]byte
					msg, err = r.c.ReadMessage()
					if err == nil && i >= sc.delivered {
						t.Fatalf("client read %q", msg)
					}
				}
				got = err
				r.c.Close()
			}
			if !errors.Is(got, sc.want) {
				t.Fatalf("client: %v, want %v", got, sc.want)
			}
			closedByPeer(t, peer)
		})
	}
}

func playServer(rs *rawCurveServer, sc curveServerScript, goodWelcome, goodReady func(*rawCurveServer) []byte) error {
	g := sc.greeting
	if g == nil {
		g = zmtptest.Greeting(MechanismCurve, 1, true)
	}
	if _, err := rs.nc.Write(g); err != nil {
		return err
	}
	if sc.greeting != nil {
		return nil
	}
	if err := rs.hello(); err != nil {
		return err
	}
	w := goodWelcome
	if sc.welcome != nil {
		w = sc.welcome
	}
	if _, err := rs.nc.Write(w(rs)); err != nil {
		return err
	}
	if err := rs.initiate(); err != nil {
		return err
	}
	r := goodReady
	if sc.ready != nil {
		r = sc.ready
	}
	if _, err := rs.nc.Write(r(rs)); err != nil {
		return err
	}
	if sc.after != nil {
		_, err := rs.nc.Write(sc.after(rs))
		return err
	}
	return nil
}

// TestCurveClientAgainstRawServer checks the client's INITIATE and
// vouch against the raw server's independent reading of RFC 26.
func TestCurveClientAgainstRawServer(t *testing.T) {
	serverPub, serverSec := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	cfg := Config{Type: Dealer, Security: Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: serverPub}}
	peer, res := rawPeer(t, cfg, 10*time.Second)
	peer.SetDeadline(time.Now().Add(15 * time.Second))
	rs := &rawCurveServer{nc: peer, r: bufio.NewReader(peer), pub: serverPub, sec: serverSec}
	router, _ := Metadata{"Socket-Type": "ROUTER"}.MarshalBinary()
	if _, err := peer.Write(zmtptest.Greeting(MechanismCurve, 1, true)); err != nil {
		t.Fatal(err)
	}
	if err := rs.hello(); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write(zmtptest.Command(CmdWelcome, rs.welcomeBody(rs.sec, rs.clientT))); err != nil {
		t.Fatal(err)
	}
	if err := rs.initiate(); err != nil {
		t.Fatal(err)
	}
	if rs.clientKey != clientPub {
		t.Fatalf("INITIATE names client key %v, want %v", rs.clientKey, clientPub)
	}
	// A large READY nonce: the client's first MESSAGE must carry a larger one.
	if _, err := peer.Write(zmtptest.Command(CmdReady, rs.readyBody(prefixReady, 1000, router))); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	if _, err := peer.Write(zmtptest.Command(CmdMessage, rs.readyBody(prefixMsgS, 1001, []byte("\x00hi")))); err != nil {
		t.Fatal(err)
	}
	if m, err := r.c.ReadMessage(); err != nil || len(m) != 1 || string(m[0]) != "hi" {
		t.Fatalf("client read %q, %v", m, err)
	}
	sendOne(t, r.c, [][]byte{[]byte("back")})
	b, err := rs.readCommand(CmdMessage)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.BigEndian.Uint64(b[:8])
	plain, ok := box.OpenAfterPrecomputation(nil, b[8:], shortNonce(prefixMsgC, n), &rs.shared)
	if !ok || n != 3 || string(plain) != "\x00back" {
		t.Fatalf("client's MESSAGE: nonce %d, opens %v, %q", n, ok, plain)
	}
}

// TestCurveHandshakeDeadline: a client that stops after HELLO is cut
// at the handshake deadline, and the server goes on serving.
func TestCurveHandshakeDeadline(t *testing.T) {
	serverPub, serverSec := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	server := Config{Type: Router, Security: Security{Mechanism: MechanismCurve, Server: true, PublicKey: serverPub, SecretKey: serverSec}}
	const deadline = 400 * time.Millisecond
	srv := startSecServer(t, server, deadline)
	rc := dialRawCurve(t, srv.addr(), serverPub, clientPub, clientSec)
	if err := rc.greet(zmtptest.Greeting(MechanismCurve, 1, false)); err != nil {
		t.Fatal(err)
	}
	if err := rc.send(rc.helloFrame(rc.defaultHello())); err != nil {
		t.Fatal(err)
	}
	if err := rc.welcome(); err != nil {
		t.Fatal(err)
	}
	// ... and no INITIATE.
	closedByPeer(t, rc.nc)
	o := srv.next(t)
	if !errors.Is(o.hsErr, os.ErrDeadlineExceeded) {
		t.Fatalf("server: %v, want a deadline error", o.hsErr)
	}
	if o.took < deadline-50*time.Millisecond || o.took > 5*time.Second {
		t.Fatalf("gave up after %v, want about %v", o.took, deadline)
	}
	// The deadline covers the whole handshake, not each read: a client
	// that trickles its HELLO a few bytes at a time is cut as well.
	rc2 := dialRawCurve(t, srv.addr(), serverPub, clientPub, clientSec)
	if err := rc2.greet(zmtptest.Greeting(MechanismCurve, 1, false)); err != nil {
		t.Fatal(err)
	}
	hello := rc2.helloFrame(rc2.defaultHello())
	stop := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		for i := 0; i < len(hello)-1; i++ {
			if rc2.send(hello[i:i+1]) != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(deadline / 10):
			}
		}
	}()
	o = srv.next(t)
	close(stop)
	<-trickled
	if !errors.Is(o.hsErr, os.ErrDeadlineExceeded) || o.took > 5*time.Second {
		t.Fatalf("trickling client: %v after %v, want a deadline error", o.hsErr, o.took)
	}
	good := Config{Type: Dealer, Security: Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: serverPub}}
	srv.checkGoodClient(t, good)
}

// TestTwoCurveClients: two clients both send HELLO, and both fail at
// once on the other's HELLO.
func TestTwoCurveClients(t *testing.T) {
	aPub, aSec := newKeyPair(t)
	bPub, bSec := newKeyPair(t)
	a := Config{Type: Dealer, Security: Security{Mechanism: MechanismCurve, PublicKey: aPub, SecretKey: aSec, ServerKey: bPub}}
	b := Config{Type: Dealer, Security: Security{Mechanism: MechanismCurve, PublicKey: bPub, SecretKey: bSec, ServerKey: aPub}}
	_, _, errA, errB := handshakePair(t, a, b)
	if !errors.Is(errA, ErrProtocol) || !errors.Is(errB, ErrProtocol) {
		t.Fatalf("two clients: %v / %v, want ErrProtocol", errA, errB)
	}
}

// TestTwoServersFailFast: two servers each wait for the other's HELLO.
// Both greetings say as-server, so the handshake can fail at once
// instead of waiting for its deadline.
func TestTwoServersFailFast(t *testing.T) {
	pub, sec := newKeyPair(t)
	auth := AuthFunc(func(AuthRequest) (string, error) { return "", nil })
	for _, s := range []Security{
		{Mechanism: MechanismCurve, Server: true, PublicKey: pub, SecretKey: sec},
		{Mechanism: MechanismPlain, Server: true, Auth: auth},
	} {
		t.Run(s.Mechanism, func(t *testing.T) {
			na, nb := tcpPair(t)
			deadline := time.Now().Add(3 * time.Second)
			ch := make(chan error, 1)
			go func() {
				_, err := Handshake(nb, Config{Type: Dealer, Security: s}, deadline)
				ch <- err
			}()
			start := time.Now()
			_, errA := Handshake(na, Config{Type: Dealer, Security: s}, deadline)
			errB := <-ch
			if errA == nil || errB == nil {
				t.Fatalf("two servers: %v / %v", errA, errB)
			}
			if errors.Is(errA, os.ErrDeadlineExceeded) || time.Since(start) > 2*time.Second {
				t.Fatalf("two servers waited for the deadline: %v / %v after %v", errA, errB, time.Since(start))
			}
		})
	}
}
