package zmtp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

func TestHandshakeRouterDealer(t *testing.T) {
	router := Config{Type: Router, Metadata: Metadata{"X-Role": "server"}}
	dealer := Config{Type: Dealer, Identity: []byte("client-1"), Metadata: Metadata{"X-Zmp-Test": "yes"}}
	cr, cd := mustPair(t, router, dealer)

	if got := cr.PeerType(); got != Dealer {
		t.Errorf("router sees peer type %q", got)
	}
	if got := cd.PeerType(); got != Router {
		t.Errorf("dealer sees peer type %q", got)
	}
	if got := cr.PeerMetadata().Get("Identity"); got != "client-1" {
		t.Errorf("router sees identity %q", got)
	}
	if got := cr.PeerMetadata().Get("x-zmp-test"); got != "yes" {
		t.Errorf("router sees X-Zmp-Test %q", got)
	}
	if got := cd.PeerMetadata().Get("X-Role"); got != "server" {
		t.Errorf("dealer sees X-Role %q", got)
	}
	if cr.PeerMinor() != 1 || cd.PeerMinor() != 1 {
		t.Errorf("peer minor %d/%d, want 1", cr.PeerMinor(), cd.PeerMinor())
	}
	if cr.RemoteAddr() == nil {
		t.Error("RemoteAddr is nil")
	}
	before := cr.Received()
	exchange(t, cd, cr)
	if cr.Received() <= before {
		t.Errorf("Received did not count the frames read: %d, then %d", before, cr.Received())
	}
	exchange(t, cr, cd)
}

func TestHandshakePubSub(t *testing.T) {
	pub, sub := mustPair(t, Config{Type: Pub}, Config{Type: Sub})
	if pub.PeerType() != Sub || sub.PeerType() != Pub {
		t.Fatalf("peer types %q/%q", pub.PeerType(), sub.PeerType())
	}
	// A subscription travels as a 0x01-prefixed message.
	if err := sub.WriteMessage([][]byte{[]byte("\x01topic")}); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	msg, err := pub.ReadMessage()
	if err != nil || len(msg) != 1 || string(msg[0]) != "\x01topic" {
		t.Fatalf("pub read %q, %v", msg, err)
	}
	exchange(t, pub, sub)
}

// testMessages covers empty frames, the short/long size boundary, a
// frame over 64 KiB (grown as it arrives) and a 1 MiB frame.
func testMessages() [][][]byte {
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		return b
	}
	return [][][]byte{
		{[]byte("hello")},
		{{}},
		{{}, {}, {}},
		{[]byte("id"), {}, []byte("body")},
		{pattern(255)},
		{pattern(256)},
		{pattern(300), {}, pattern(1)},
		{pattern(64 << 10)},
		{pattern(64<<10 + 1)},
		{[]byte("head"), pattern(100 << 10), []byte("tail")},
		{pattern(1 << 20)},
		{[]byte("last")},
	}
}

// exchange sends testMessages from w to r and checks them.
func exchange(t *testing.T, w, r *Conn) {
	t.Helper()
	msgs := testMessages()
	errc := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := w.WriteMessage(m); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Flush()
	}()
	for i, want := range msgs {
		got, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("message %d: %d frames, want %d", i, len(got), len(want))
		}
		for j := range want {
			if !bytes.Equal(got[j], want[j]) {
				t.Fatalf("message %d frame %d: %d bytes differ from the %d sent", i, j, len(got[j]), len(want[j]))
			}
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestWireFormatOfMessages(t *testing.T) {
	var out bytes.Buffer
	c := memConn(nil, &out, DefaultMaxMessageSize)
	big := bytes.Repeat([]byte{'x'}, 256)
	if err := c.WriteMessage([][]byte{[]byte("ab"), {}, big}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []byte{flagMore, 2, 'a', 'b', flagMore, 0, flagLong, 0, 0, 0, 0, 0, 0, 1, 0}
	want = append(want, big...)
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("wire bytes\n got % x\nwant % x", out.Bytes()[:20], want[:20])
	}
}

func TestConcurrentWriters(t *testing.T) {
	a, b := mustPair(t, Config{Type: Dealer}, Config{Type: Dealer})
	const writers, each = 4, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := [][]byte{[]byte(fmt.Sprint(w)), []byte(fmt.Sprint(i)), bytes.Repeat([]byte{byte(w)}, 300)}
				if err := a.WriteMessage(m); err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					if err := a.Flush(); err != nil {
						t.Error(err)
						return
					}
				}
			}
			if err := a.Flush(); err != nil {
				t.Error(err)
			}
		}()
	}
	next := make([]int, writers)
	for range writers * each {
		m, err := b.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var w, i int
		fmt.Sscan(string(m[0]), &w)
		fmt.Sscan(string(m[1]), &i)
		if len(m) != 3 || next[w] != i || !bytes.Equal(m[2], bytes.Repeat([]byte{byte(w)}, 300)) {
			t.Fatalf("interleaved or out of order: writer %d message %d (want %d)", w, i, next[w])
		}
		next[w]++
	}
	wg.Wait()
}

func TestHandshakeIncompatible(t *testing.T) {
	for _, tt := range []struct{ a, b SocketType }{
		{Router, Pub},
		{Pub, Pub},
		{Sub, Dealer},
		{Dealer, Sub},
	} {
		t.Run(string(tt.a)+"-"+string(tt.b), func(t *testing.T) {
			_, _, errA, errB := handshakePair(t, Config{Type: tt.a}, Config{Type: tt.b})
			if !errors.Is(errA, ErrIncompatible) {
				t.Errorf("%s side: %v, want ErrIncompatible", tt.a, errA)
			}
			if !errors.Is(errB, ErrIncompatible) {
				t.Errorf("%s side: %v, want ErrIncompatible", tt.b, errB)
			}
		})
	}
}

func TestHandshakeRequiresType(t *testing.T) {
	a, _ := tcpPair(t)
	if _, err := Handshake(a, Config{}, time.Now().Add(time.Second)); err == nil {
		t.Fatal("Handshake without a type succeeded")
	}
}

// rawPeer runs Handshake on one end of a loopback connection and
// returns the other end to the test, which plays the peer by hand.
func rawPeer(t *testing.T, cfg Config, timeout time.Duration) (peer net.Conn, result <-chan hsResult) {
	t.Helper()
	ours, peer := tcpPair(t)
	ch := make(chan hsResult, 1)
	go func() {
		// tcpPair's cleanup closes ours, and with it any Conn made here.
		c, err := Handshake(ours, cfg, time.Now().Add(timeout))
		ch <- hsResult{c, err}
	}()
	return peer, ch
}

// readGreeting reads our side's 64-byte greeting off the raw peer.
func readGreeting(t *testing.T, nc net.Conn) Greeting {
	t.Helper()
	var b [GreetingSize]byte
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(nc, b[:]); err != nil {
		t.Fatal(err)
	}
	g, err := ParseGreeting(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestHandshakeMechanismMismatch(t *testing.T) {
	peer, res := rawPeer(t, Config{Type: Dealer}, 10*time.Second)
	g := readGreeting(t, peer)
	if g.Mechanism != "NULL" || g.Major != 3 || g.Minor != 1 {
		t.Fatalf("our greeting is %+v", g)
	}
	if _, err := peer.Write(zmtptest.Greeting("PLAIN", 1, false)); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if !errors.Is(r.err, ErrMechanism) {
		t.Fatalf("Handshake = %v, want ErrMechanism", r.err)
	}
	// We told the peer why before closing.
	rest, _ := io.ReadAll(peer)
	if !bytes.Contains(rest, []byte(CmdError)) {
		t.Fatalf("no ERROR command sent, got % x", rest)
	}
}

func TestHandshakeDeadline(t *testing.T) {
	// The peer accepts the TCP connection and then says nothing.
	start := time.Now()
	_, res := rawPeer(t, Config{Type: Router}, 300*time.Millisecond)
	var r hsResult
	select {
	case r = <-res:
	case <-time.After(10 * time.Second):
		t.Fatal("Handshake did not give up at its deadline")
	}
	if !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Fatalf("Handshake = %v, want a deadline error", r.err)
	}
	if el := time.Since(start); el < 250*time.Millisecond || el > 5*time.Second {
		t.Fatalf("gave up after %v, want about 300ms", el)
	}
}

func TestHandshakeHalfGreetingDeadline(t *testing.T) {
	peer, res := rawPeer(t, Config{Type: Router}, 300*time.Millisecond)
	peer.Write(zmtptest.NullGreeting()[:10])
	select {
	case r := <-res:
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("Handshake = %v, want a deadline error", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Handshake did not give up at its deadline")
	}
}

func TestHandshakeRawPeerErrors(t *testing.T) {
	bigReady := zmtptest.Command(CmdReady, bytes.Repeat([]byte{'x'}, maxHandshakeCommand+1))
	truncatedProp := zmtptest.Command(CmdReady, []byte{11, 'S', 'o', 'c', 'k', 'e', 't', '-', 'T', 'y', 'p', 'e', 0, 0, 0, 6, 'D', 'E'})
	tests := []struct {
		name  string
		after []byte // sent after a good greeting
		greet []byte // replaces the greeting when set
		want  error
	}{
		{"version 2", nil, func() []byte { b := zmtptest.NullGreeting(); b[10] = 2; return b }(), ErrProtocol},
		{"bad signature", nil, func() []byte { b := zmtptest.NullGreeting(); b[0] = 0; return b }(), ErrProtocol},
		{"message instead of READY", zmtptest.Message([]byte("hi")), nil, ErrProtocol},
		{"PING instead of READY", zmtptest.Command(CmdPing, []byte{0, 0}), nil, ErrProtocol},
		{"ERROR instead of READY", zmtptest.Command(CmdError, []byte("\x04nope")), nil, ErrPeerError},
		{"READY with truncated property", truncatedProp, nil, ErrProtocol},
		{"READY over 64 KiB", bigReady, nil, ErrTooLarge},
		{"READY without socket type", zmtptest.Ready(Metadata{"Identity": "x"}), nil, ErrIncompatible},
		{"bad command name", zmtptest.Frame(flagCommand, []byte{0, 'x'}), nil, ErrProtocol},
		{"reserved flags in READY", zmtptest.Frame(flagCommand|0x10, []byte("\x05READY")), nil, ErrProtocol},
		{"EOF inside READY", zmtptest.Ready(Metadata{"Socket-Type": "DEALER"})[:10], nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer, res := rawPeer(t, Config{Type: Router}, 10*time.Second)
			greet := tt.greet
			if greet == nil {
				greet = zmtptest.NullGreeting()
			}
			// Write from a goroutine: a large READY may not fit the socket buffers.
			go func() {
				peer.Write(append(append([]byte(nil), greet...), tt.after...))
				if tt.want == io.ErrUnexpectedEOF {
					peer.(*net.TCPConn).CloseWrite()
				}
			}()
			r := <-res
			if !errors.Is(r.err, tt.want) {
				t.Fatalf("Handshake = %v, want %v", r.err, tt.want)
			}
		})
	}
}

func TestHandshakeAcceptsZMTP30Peer(t *testing.T) {
	peer, res := rawPeer(t, Config{Type: Router}, 10*time.Second)
	g := zmtptest.Greeting("NULL", 0, false)
	peer.Write(append(g, zmtptest.Ready(Metadata{"Socket-Type": "REQ"})...))
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.c.PeerMinor() != 0 || r.c.PeerType() != Req {
		t.Fatalf("peer minor %d type %q", r.c.PeerMinor(), r.c.PeerType())
	}
}

func TestReadMessageHugeFrameHeader(t *testing.T) {
	huge := append(zmtptest.FrameHeader(0, 1<<50), "a few bytes"...)

	t.Run("default limit", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := memConn(huge, nil, DefaultMaxMessageSize)
		_, err := c.ReadMessage()
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("ReadMessage = %v, want ErrTooLarge", err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Fatalf("allocated %d bytes for a rejected frame", grew)
		}
	})
	t.Run("limit above announced size", func(t *testing.T) {
		// Even when the limit allows it, memory is only committed as
		// bytes actually arrive: the stream ends after 11 bytes.
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := memConn(huge, nil, 1<<60)
		_, err := c.ReadMessage()
		runtime.ReadMemStats(&after)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadMessage = %v, want io.ErrUnexpectedEOF", err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Fatalf("allocated %d bytes for an 11-byte body", grew)
		}
	})
	t.Run("over TCP", func(t *testing.T) {
		a, b := mustPair(t, Config{Type: Dealer}, Config{Type: Router})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		errc := make(chan error, 1)
		go func() {
			_, err := b.ReadMessage()
			errc <- err
		}()
		if _, err := a.nc.Write(huge); err != nil {
			t.Fatal(err)
		}
		err := <-errc
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("ReadMessage = %v, want ErrTooLarge", err)
		}
		if after.HeapAlloc > before.HeapAlloc && after.HeapAlloc-before.HeapAlloc > 64<<20 {
			t.Fatalf("heap grew by %d bytes", after.HeapAlloc-before.HeapAlloc)
		}
	})
}

func TestReadMessageLimits(t *testing.T) {
	const max = 1000
	frame := func(n int) []byte { return bytes.Repeat([]byte{'z'}, n) }
	tests := []struct {
		name string
		in   []byte
		want error // nil: one good message
	}{
		{"single frame at limit", zmtptest.Message(frame(max - frameOverhead)), nil},
		{"single frame over limit", zmtptest.Message(frame(max - frameOverhead + 1)), ErrTooLarge},
		{"long-form size over limit", zmtptest.Frame(flagLong, frame(max)), ErrTooLarge},
		{"multipart total over limit", zmtptest.Message(frame(400), frame(400), frame(400)), ErrTooLarge},
		{"multipart total at limit", zmtptest.Message(frame(400-frameOverhead), frame(400-frameOverhead), frame(200-frameOverhead)), nil},
		{"flood of empty frames", zmtptest.Message(make([][]byte, max/frameOverhead+1)...), ErrTooLarge},
		{"size 2^64-1", append([]byte{flagLong}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), ErrTooLarge},
		{"command over limit", zmtptest.Command("UNKNOWN", frame(max)), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := memConn(tt.in, nil, max)
			msg, err := c.ReadMessage()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ReadMessage = %v", err)
				}
				if len(msg) == 0 {
					t.Fatal("no frames")
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadMessage = %d frames, %v; want %v", len(msg), err, tt.want)
			}
		})
	}
}

func TestReadMessageLimitResetsBetweenMessages(t *testing.T) {
	const max = 1000
	body := bytes.Repeat([]byte{'z'}, 600)
	var in []byte
	for range 5 {
		in = append(in, zmtptest.Message(body)...)
		in = append(in, zmtptest.Command(CmdPong, nil)...)
	}
	c := memConn(in, nil, max)
	for i := range 5 {
		if _, err := c.ReadMessage(); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if _, err := c.ReadMessage(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
}

func TestReadMessageProtocolErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"reserved flag 0x08", zmtptest.Frame(0x08, []byte("x")), ErrProtocol},
		{"reserved flag 0x80", zmtptest.Frame(0x80, []byte("x")), ErrProtocol},
		{"reserved flags on later frame", append(zmtptest.Frame(flagMore, []byte("a")), zmtptest.Frame(0x20, []byte("b"))...), ErrProtocol},
		{"command with MORE", zmtptest.Frame(flagCommand|flagMore, []byte("\x04PING\x00\x00")), ErrProtocol},
		{"command inside multipart", append(zmtptest.Frame(flagMore, []byte("a")), zmtptest.Command(CmdPong, nil)...), ErrProtocol},
		{"empty command frame", zmtptest.Frame(flagCommand, nil), ErrProtocol},
		{"bad command name", zmtptest.Frame(flagCommand, []byte{9, 'S'}), ErrProtocol},
		{"second READY", zmtptest.Ready(Metadata{"Socket-Type": "DEALER"}), ErrProtocol},
		{"PING too short", zmtptest.Command(CmdPing, []byte{0}), ErrProtocol},
		{"PING context over 16 bytes", zmtptest.Command(CmdPing, append([]byte{0, 1}, bytes.Repeat([]byte{'c'}, 17)...)), ErrProtocol},
		{"ERROR from peer", zmtptest.Command(CmdError, []byte("\x03bye")), ErrPeerError},
		{"malformed ERROR", zmtptest.Command(CmdError, []byte("\x09bye")), ErrPeerError},
		{"EOF in header", []byte{flagLong, 0, 0}, io.ErrUnexpectedEOF},
		{"EOF after flags", []byte{0}, io.ErrUnexpectedEOF},
		{"EOF in body", []byte{0, 10, 'a'}, io.ErrUnexpectedEOF},
		{"EOF in multipart", zmtptest.Frame(flagMore, []byte("a")), io.ErrUnexpectedEOF},
		{"clean EOF", nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := memConn(tt.in, nil, DefaultMaxMessageSize)
			msg, err := c.ReadMessage()
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadMessage = %q, %v; want %v", msg, err, tt.want)
			}
		})
	}
}

func TestReadMessageAnswersPing(t *testing.T) {
	var out bytes.Buffer
	in := zmtptest.Command(CmdPing, []byte{0x00, 0x1e, 'c', 't', 'x', '-', '4', '2'})
	in = append(in, zmtptest.Command(CmdPing, []byte{0, 0})...) // empty context
	in = append(in, zmtptest.Command(CmdPong, []byte("ignored"))...)
	in = append(in, zmtptest.Command("UNKNOWN", []byte("ignored"))...)
	in = append(in, zmtptest.Message([]byte("after"), []byte("pings"))...)
	c := memConn(in, &out, DefaultMaxMessageSize)
	msg, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(msg, [][]byte{[]byte("after"), []byte("pings")}) {
		t.Fatalf("got %q", msg)
	}
	want := zmtptest.Command(CmdPong, []byte("ctx-42"))
	want = append(want, zmtptest.Command(CmdPong, nil)...)
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("PONGs on the wire\n got % x\nwant % x", out.Bytes(), want)
	}
}

func TestPingOverTCP(t *testing.T) {
	a, b := mustPair(t, Config{Type: Dealer}, Config{Type: Router})
	before := a.Received()
	if err := a.Ping(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := a.WriteMessage([][]byte{[]byte("x")}); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	// b answers the PING while reading the message ...
	if m, err := b.ReadMessage(); err != nil || string(m[0]) != "x" {
		t.Fatalf("b read %q, %v", m, err)
	}
	if err := b.WriteMessage([][]byte{[]byte("y")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	// ... and a absorbs the PONG, seeing only the message.
	if m, err := a.ReadMessage(); err != nil || len(m) != 1 || string(m[0]) != "y" {
		t.Fatalf("a read %q, %v", m, err)
	}
	// The PONG and the message both count as traffic.
	if got := a.Received(); got < before+2 {
		t.Fatalf("Received %d after PONG and message, want at least %d", got, before+2)
	}
}

func TestPingWireFormat(t *testing.T) {
	var out bytes.Buffer
	c := memConn(nil, &out, DefaultMaxMessageSize)
	if err := c.Ping(3 * time.Second); err != nil {
		t.Fatal(err)
	}
	want := zmtptest.Command(CmdPing, []byte{0, 30})
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("got % x, want % x", out.Bytes(), want)
	}
	out.Reset()
	c.Ping(time.Hour * 24) // TTL saturates at 0xffff deciseconds
	if want := zmtptest.Command(CmdPing, []byte{0xff, 0xff}); !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("got % x, want % x", out.Bytes(), want)
	}
}

func TestReadMessageSubscribeCancelCommands(t *testing.T) {
	in := zmtptest.Command(CmdSubscribe, []byte("news."))
	in = append(in, zmtptest.Command(CmdCancel, []byte("news."))...)
	in = append(in, zmtptest.Command(CmdSubscribe, nil)...) // subscribe to everything
	c := memConn(in, nil, DefaultMaxMessageSize)
	for _, want := range []string{"\x01news.", "\x00news.", "\x01"} {
		msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) != 1 || string(msg[0]) != want {
			t.Fatalf("got %q, want one frame %q", msg, want)
		}
	}
}

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func TestWriteErrorIsSticky(t *testing.T) {
	c := memConn(nil, errWriter{}, DefaultMaxMessageSize)
	if err := c.WriteMessage([][]byte{bytes.Repeat([]byte{1}, bufferSize+1)}); err == nil {
		t.Fatal("WriteMessage of a frame larger than the buffer succeeded on a failing writer")
	}
	if err := c.WriteMessage([][]byte{[]byte("x")}); err == nil {
		t.Fatal("write error was not sticky")
	}
	if err := c.Flush(); err == nil {
		t.Fatal("Flush after a write error succeeded")
	}
}

func TestCloseUnblocksReader(t *testing.T) {
	a, _ := mustPair(t, Config{Type: Dealer}, Config{Type: Router})
	errc := make(chan error, 1)
	go func() {
		_, err := a.ReadMessage()
		errc <- err
	}()
	a.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("ReadMessage after Close returned no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not unblock ReadMessage")
	}
}
