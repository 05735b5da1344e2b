package systems

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gozmp/zmp/bench/spec"
)

// tcp and tcp-buffered: plain Go sockets, the floor every system is
// measured against. A message is a 4-byte big-endian length and the
// payload. "tcp" writes each message with one write call;
// "tcp-buffered" writes through a 64 KiB bufio.Writer (one-way only).
// Readers are buffered in both.

const tcpBufSize = 64 << 10

func tcpSystem(buffered bool) *System {
	if buffered {
		return &System{Name: "tcp-buffered", PubSub: true, IPC: true, NoStalled: true, NewPub: newTCPPub(true), DialSubs: dialTCPSubs}
	}
	return &System{Name: "tcp", RPC: true, PubSub: true, IPC: true, NewEcho: newTCPEcho, DialEcho: dialTCPEcho, NewPub: newTCPPub(false), DialSubs: dialTCPSubs}
}

// tcpListen listens on loopback TCP or on a Unix socket in ep.Dir.
func tcpListen(ep Endpoint, name string) (net.Listener, error) {
	if ep.Transport == spec.IPC {
		return net.Listen("unix", filepath.Join(ep.Dir, name+".sock"))
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// tcpAddr is the address a client dials: network://address.
func tcpAddr(ln net.Listener) string { return ln.Addr().Network() + "://" + ln.Addr().String() }

func tcpDial(ctx context.Context, addr string) (net.Conn, error) {
	network, address, ok := strings.Cut(addr, "://")
	if !ok {
		return nil, fmt.Errorf("bad address %q", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// frame returns payload framed with its length, ready to write.
func frame(payload []byte) []byte {
	f := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(f, uint32(len(payload)))
	copy(f[4:], payload)
	return f
}

// frameReader reads length-prefixed messages through a buffer.
type frameReader struct {
	r   *bufio.Reader
	buf []byte
}

func newFrameReader(c net.Conn) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(c, tcpBufSize), buf: make([]byte, 4+spec.Large)}
}

// next returns the next whole frame, header included; it is valid until
// the next call.
func (f *frameReader) next() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.buf[:4]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(f.buf))
	if n > len(f.buf)-4 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	_, err := io.ReadFull(f.r, f.buf[4:4+n])
	return f.buf[:4+n], err
}

// connSet is a listener's accepted connections, closed together.
type connSet struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

// accept accepts until ln is closed, handing each connection to serve
// in a goroutine of its own (serve may be nil: keep the connection).
func (s *connSet) accept(ln net.Listener, serve func(net.Conn)) {
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.add(c) {
				return
			}
			if serve != nil {
				s.wg.Go(func() { serve(c) })
			}
		}
	})
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

func (s *connSet) snapshot() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]net.Conn(nil), s.conns...)
}

// close closes ln and every connection, then waits for the goroutines.
func (s *connSet) close(ln net.Listener) error {
	err := ln.Close()
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
