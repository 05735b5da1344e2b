package zmtp

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

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
	nw := newNetWriter(nc)
	return &Conn{
		nc:      nc,
		r:       bufio.NewReaderSize(nc, bufferSize),
		nw:      nw,
		w:       bufio.NewWriterSize(nw, bufferSize),
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
