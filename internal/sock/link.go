package sock

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// DefaultQueueLen is the send queue bound used when LinkConfig.QueueLen is 0.
const DefaultQueueLen = 1000

// LinkConfig configures a Link.
type LinkConfig struct {
	// QueueLen bounds the messages waiting to be written. Default DefaultQueueLen.
	QueueLen int
	// OnMessage receives every message read, on the link's reader
	// goroutine; the link reads nothing more until it returns.
	OnMessage func(l *Link, frames [][]byte)
	// OnClose runs once, after the reader and writer have stopped and
	// before Done is closed. It must not call l.Close.
	OnClose func(l *Link, err error)
	// Heartbeat, when positive and the peer speaks ZMTP 3.1, sends a
	// PING every Heartbeat and ends the link when nothing has been read
	// for HeartbeatTimeout (default 3 × Heartbeat). Writes are then
	// also bounded by HeartbeatTimeout.
	Heartbeat        time.Duration
	HeartbeatTimeout time.Duration
	// DirectWriteTimeout bounds a SendNow that writes on the caller's
	// goroutine (default 5 s, or HeartbeatTimeout with heartbeats on);
	// past it the link ends.
	DirectWriteTimeout time.Duration
	// Value is the owner's per-link state, returned by Link.Value.
	Value any
}

// DefaultDirectWriteTimeout bounds a direct write without heartbeats.
const DefaultDirectWriteTimeout = 5 * time.Second

// Link runs one zmtp.Conn: a reader goroutine and a writer goroutine
// that drains the bounded send queue in batches, one flush per batch.
type Link struct {
	conn *zmtp.Conn
	cfg  LinkConfig
	q    *queue
	wmu  sync.Mutex // held by whoever writes to conn
	// directUsed, under wmu: a direct write left a deadline on conn
	directUsed bool

	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	running   atomic.Int32
	errMu     sync.Mutex
	err       error

	sent, dropped atomic.Uint64

	// heartbeat state, owned by the writer goroutine
	seenReceived uint64
	lastTraffic  time.Time
}

// StartLink takes ownership of c and starts its goroutines.
func StartLink(c *zmtp.Conn, cfg LinkConfig) *Link {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.Heartbeat > 0 && cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 3 * cfg.Heartbeat
	}
	if c.PeerMinor() < 1 {
		cfg.Heartbeat = 0 // a ZMTP 3.0 peer does not answer PING
	}
	if cfg.DirectWriteTimeout <= 0 {
		cfg.DirectWriteTimeout = DefaultDirectWriteTimeout
		if cfg.Heartbeat > 0 {
			cfg.DirectWriteTimeout = cfg.HeartbeatTimeout
		}
	}
	l := &Link{conn: c, cfg: cfg, q: newQueue(cfg.QueueLen), closing: make(chan struct{}), done: make(chan struct{}), lastTraffic: time.Now()}
	l.running.Store(2)
	go l.readLoop()
	go l.writeLoop()
	return l
}

// Value returns LinkConfig.Value.
func (l *Link) Value() any { return l.cfg.Value }

// Conn returns the link's connection, for its metadata and address.
func (l *Link) Conn() *zmtp.Conn { return l.conn }

// Send queues frames, waiting for room while ctx allows. The link owns
// frames from then on: the caller must not modify them.
func (l *Link) Send(ctx context.Context, frames [][]byte) error {
	_, err := l.q.push(ctx, frames, Block)
	return l.sendResult(err)
}

// SendNow is Send for a sender that expects to be alone: when the link
// is idle (nothing queued, no write in progress) it writes frames on
// the caller's goroutine, saving the hand-off to the writer; otherwise
// it queues them like Send. Senders that send in bursts should use
// Send, whose writer batches many messages into one write. Not for
// senders that must never wait (publishers).
func (l *Link) SendNow(ctx context.Context, frames [][]byte) error {
	if done, err := l.writeDirect(frames); done {
		return err
	}
	return l.Send(ctx, frames)
}

// writeDirect writes frames at once if the link is idle; done is false
// when the caller must queue them instead.
func (l *Link) writeDirect(frames [][]byte) (done bool, err error) {
	if !l.wmu.TryLock() {
		return false, nil
	}
	defer l.wmu.Unlock()
	if l.q.len() > 0 {
		return false, nil // queued messages go first
	}
	select {
	case <-l.closing:
		return true, l.sendResult(ErrClosed)
	default:
	}
	l.directUsed = true
	l.conn.SetWriteDeadline(time.Now().Add(l.cfg.DirectWriteTimeout))
	if err := l.conn.WriteMessage(frames); err != nil {
		l.fail(err)
		return true, err
	}
	if err := l.conn.Flush(); err != nil {
		l.fail(err)
		return true, err
	}
	l.sent.Add(1)
	return true, nil
}

// QueueFull reports whether Send would have to wait for room now.
func (l *Link) QueueFull() bool { return l.q.full() }

// TrySend queues frames without waiting, applying p (DropNewest or
// DropOldest) when the queue is full. It reports whether a message was
// dropped; drops are also counted in Stats.
func (l *Link) TrySend(frames [][]byte, p Policy) (dropped bool, err error) {
	dropped, err = l.q.push(context.Background(), frames, p)
	if dropped {
		l.dropped.Add(1)
	}
	if err == ErrQueueFull {
		return true, nil
	}
	return dropped, l.sendResult(err)
}

func (l *Link) sendResult(err error) error {
	if err == ErrClosed {
		if e := l.Err(); e != nil {
			return e
		}
	}
	return err
}

// LinkStats counts a link's traffic.
type LinkStats struct {
	Sent, Dropped uint64
	Queued        int
}

// Stats returns the link's counters.
func (l *Link) Stats() LinkStats {
	return LinkStats{Sent: l.sent.Load(), Dropped: l.dropped.Load(), Queued: l.q.len()}
}

// Done is closed when the link has stopped.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err returns why the link stopped, or nil while it runs.
func (l *Link) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.err
}

// Close stops the link and waits for its goroutines. It is idempotent.
func (l *Link) Close() error {
	l.fail(ErrClosed)
	<-l.done
	return nil
}

func (l *Link) fail(err error) {
	l.closeOnce.Do(func() {
		l.errMu.Lock()
		l.err = err
		l.errMu.Unlock()
		close(l.closing)
		l.q.close()
		l.conn.Close()
	})
}

func (l *Link) exit() {
	if l.running.Add(-1) == 0 {
		if l.cfg.OnClose != nil {
			l.cfg.OnClose(l, l.Err())
		}
		close(l.done)
	}
}

func (l *Link) readLoop() {
	defer l.exit()
	for {
		frames, err := l.conn.ReadMessage()
		if err != nil {
			l.fail(err)
			return
		}
		if l.cfg.OnMessage != nil {
			l.cfg.OnMessage(l, frames)
		}
	}
}

func (l *Link) writeLoop() {
	defer l.exit()
	var tick <-chan time.Time
	if l.cfg.Heartbeat > 0 {
		t := time.NewTicker(l.cfg.Heartbeat)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.closing:
			return
		case <-l.q.wake:
			// Let senders that are already runnable queue behind this
			// message, so that one write carries them all.
			runtime.Gosched()
			if err := l.writeBatch(); err != nil {
				l.fail(err)
				return
			}
		case <-tick:
			if err := l.heartbeat(); err != nil {
				l.fail(err)
				return
			}
		}
	}
}

func (l *Link) writeBatch() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	batch := l.q.take()
	defer l.q.recycle(batch)
	if l.cfg.Heartbeat > 0 {
		l.conn.SetWriteDeadline(time.Now().Add(l.cfg.HeartbeatTimeout))
	} else if l.directUsed {
		l.conn.SetWriteDeadline(time.Time{}) // clear a direct write's deadline
		l.directUsed = false
	}
	for _, m := range batch {
		if err := l.conn.WriteMessage(m); err != nil {
			return err
		}
	}
	if err := l.conn.Flush(); err != nil {
		return err
	}
	l.sent.Add(uint64(len(batch)))
	return nil
}

func (l *Link) heartbeat() error {
	now := time.Now()
	if n := l.conn.Received(); n != l.seenReceived {
		l.seenReceived, l.lastTraffic = n, now
	}
	if now.Sub(l.lastTraffic) > l.cfg.HeartbeatTimeout {
		return ErrHeartbeatTimeout
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.conn.SetWriteDeadline(time.Now().Add(l.cfg.HeartbeatTimeout))
	return l.conn.Ping(l.cfg.HeartbeatTimeout)
}
