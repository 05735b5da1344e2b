package zmtp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// greetingBytes returns a raw 64-byte ZMTP 3.1 greeting for mech.
func greetingBytes(mech string) []byte {
	b := make([]byte, GreetingSize)
	b[0], b[9], b[10], b[11] = 0xff, 0x7f, 3, 1
	copy(b[12:32], mech)
	return b
}

// rawFrame encodes one frame with explicit flags, choosing the long
// form when the body needs it (or when flags already ask for it).
func rawFrame(flags byte, body []byte) []byte {
	var b []byte
	if len(body) > 255 || flags&flagLong != 0 {
		b = append(b, flags|flagLong)
		b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
	} else {
		b = append(b, flags, byte(len(body)))
	}
	return append(b, body...)
}

// rawCommand encodes a command frame.
func rawCommand(name string, body []byte) []byte {
	return rawFrame(flagCommand, Command{Name: name, Body: body}.appendTo(nil))
}

// rawMessage encodes a multipart message.
func rawMessage(frames ...[]byte) []byte {
	var b []byte
	for i, f := range frames {
		var flags byte
		if i < len(frames)-1 {
			flags = flagMore
		}
		b = append(b, rawFrame(flags, f)...)
	}
	return b
}

// rawReady encodes a READY command carrying meta.
func rawReady(t testing.TB, meta Metadata) []byte {
	t.Helper()
	body, err := meta.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return rawCommand(CmdReady, body)
}

// fakeConn is an in-memory net.Conn: reads come from r, writes go to w.
type fakeConn struct {
	r io.Reader
	w io.Writer
}

func (f *fakeConn) Read(p []byte) (int, error)       { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error)      { return f.w.Write(p) }
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return fakeAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr             { return fakeAddr{} }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

type fakeAddr struct{}

func (fakeAddr) Network() string { return "fake" }
func (fakeAddr) String() string  { return "fake" }

// memConn builds a post-handshake Conn that reads data and writes to w
// (io.Discard when nil).
func memConn(data []byte, w io.Writer, maxSize uint64) *Conn {
	if w == nil {
		w = io.Discard
	}
	nc := &fakeConn{r: bytes.NewReader(data), w: w}
	return &Conn{
		nc:      nc,
		r:       bufio.NewReaderSize(nc, bufferSize),
		w:       bufio.NewWriterSize(nc, bufferSize),
		maxSize: maxSize,
		peer:    Greeting{Major: 3, Minor: 1, Mechanism: "NULL"},
	}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		client.Close()
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		client.Close()
		r.c.Close()
	})
	return client, r.c
}

type hsResult struct {
	c   *Conn
	err error
}

// handshakePair runs Handshake on both ends of a loopback TCP
// connection concurrently.
func handshakePair(t testing.TB, a, b Config) (ca, cb *Conn, errA, errB error) {
	t.Helper()
	na, nb := tcpPair(t)
	deadline := time.Now().Add(10 * time.Second)
	ch := make(chan hsResult, 1)
	go func() {
		c, err := Handshake(nb, b, deadline)
		ch <- hsResult{c, err}
	}()
	ca, errA = Handshake(na, a, deadline)
	r := <-ch
	cb, errB = r.c, r.err
	t.Cleanup(func() {
		if ca != nil {
			ca.Close()
		}
		if cb != nil {
			cb.Close()
		}
	})
	return ca, cb, errA, errB
}

// mustPair is handshakePair that fails the test on a handshake error.
func mustPair(t testing.TB, a, b Config) (*Conn, *Conn) {
	t.Helper()
	ca, cb, errA, errB := handshakePair(t, a, b)
	if errA != nil || errB != nil {
		t.Fatalf("handshake: %v / %v", errA, errB)
	}
	return ca, cb
}
