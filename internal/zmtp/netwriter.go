package zmtp

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// netWriter sits between a Conn's bufio.Writer and its net.Conn. It
// bounds writes by time without progress, and lets a writer that must
// not wait hand the rest of its bytes over to one that may.
//
// With a write timeout set, every chunk of at most writeChunk bytes must
// reach the socket within the timeout: a peer that stops reading fails
// the write after at most the timeout, while one that reads slowly but
// steadily is never cut off in the middle of a large message. The
// deadline is re-armed only when less than half of it is left, so a
// busy connection pays for it about once per half timeout.
//
// In try mode (see Conn.WriteMessageNow) a write gives the socket one
// chance; what it does not take is kept in spill, in order, and written
// first by the next write in normal mode. On a socket (TCP, Unix) that
// chance is one non-blocking write(2), with no deadline: a short
// deadline would be the earliest timer of the process and cost a
// wake-up of the network poller on every write. Other connections get
// a write with a deadline of tryWindow.
type netWriter struct {
	nc       net.Conn
	raw      syscall.RawConn // nil unless nc is a socket
	timeout  time.Duration   // 0: leave deadlines to the caller
	deadline time.Time       // what is set on nc, when timeout > 0
	try      bool
	spill    []byte
}

func newNetWriter(nc net.Conn) *netWriter {
	w := &netWriter{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			w.raw = raw
		}
	}
	return w
}

const (
	// writeChunk is the most written under one deadline check.
	writeChunk = 64 << 10
	// tryWindow is how long a write in try mode may wait for the socket.
	tryWindow = 2 * time.Millisecond
)

func (w *netWriter) Write(p []byte) (int, error) {
	if w.try {
		return w.tryWrite(p)
	}
	if err := w.drain(); err != nil {
		return 0, err
	}
	return w.write(p)
}

// write writes p in chunks, re-arming the deadline as needed.
func (w *netWriter) write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), writeChunk)
		w.arm()
		k, err := w.nc.Write(p[:n])
		written += k
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// arm makes sure the connection's write deadline is at least half the
// timeout away (it is checked on the monotonic clock, and set about
// once per half timeout), or cleared without a timeout.
func (w *netWriter) arm() {
	if w.timeout <= 0 {
		if !w.deadline.IsZero() { // left by try mode
			w.deadline = time.Time{}
			w.nc.SetWriteDeadline(w.deadline)
		}
		return
	}
	if w.deadline.IsZero() || time.Until(w.deadline) < w.timeout/2 {
		w.deadline = time.Now().Add(w.timeout)
		w.nc.SetWriteDeadline(w.deadline)
	}
}

// tryWrite gives the socket one chance to take p and keeps the rest.
// It fails only on a real error, not on a full socket.
func (w *netWriter) tryWrite(p []byte) (int, error) {
	n := len(p)
	if len(w.spill) == 0 && w.raw != nil {
		// A deadline that passed while the connection was idle would
		// fail even a non-blocking write: renew it first.
		w.arm()
		k, err := w.rawWrite(p)
		if err != nil {
			return k, err
		}
		p = p[k:]
	} else if len(w.spill) == 0 {
		w.deadline = time.Now().Add(tryWindow)
		w.nc.SetWriteDeadline(w.deadline)
		k, err := w.nc.Write(p)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return k, err
		}
		p = p[k:]
	}
	w.spill = append(w.spill, p...)
	return n, nil
}

// rawWrite makes one non-blocking write(2) of p: a full socket takes
// nothing, which is not an error.
func (w *netWriter) rawWrite(p []byte) (int, error) {
	var (
		k    int
		werr error
	)
	err := w.raw.Write(func(fd uintptr) bool {
		k, werr = syscall.Write(int(fd), p)
		return true // one attempt: never wait for the socket
	})
	if err != nil {
		return 0, err
	}
	switch {
	case werr == nil:
		return k, nil
	case errors.Is(werr, syscall.EAGAIN) || errors.Is(werr, syscall.EINTR):
		return 0, nil
	}
	return 0, &net.OpError{Op: "write", Net: w.nc.RemoteAddr().Network(), Addr: w.nc.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
}

// drain writes what try mode kept.
func (w *netWriter) drain() error {
	if len(w.spill) == 0 {
		return nil
	}
	k, err := w.write(w.spill)
	if err != nil {
		w.spill = w.spill[k:]
		return err
	}
	if cap(w.spill) > writeChunk {
		w.spill = nil // do not keep a large message's buffer
	} else {
		w.spill = w.spill[:0]
	}
	return nil
}

func (w *netWriter) pending() bool { return len(w.spill) > 0 }
