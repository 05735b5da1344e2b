package sock

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// Defaults of LinkConfig.
const (
	// DefaultQueueLen bounds the messages waiting to be written.
	DefaultQueueLen = 1000
	// DefaultQueueBytes bounds the bytes waiting to be written.
	DefaultQueueBytes = 8 << 20
	// DefaultWriteTimeout is how long a write may wait for a peer that
	// takes nothing, without heartbeats.
	DefaultWriteTimeout = 5 * time.Second
)

// LinkConfig configures a Link.
type LinkConfig struct {
	// QueueLen and QueueBytes bound the messages waiting to be written,
	// by count and by the bytes of their frames; a message always fits
	// into an empty queue. Defaults DefaultQueueLen and DefaultQueueBytes;
	// a negative QueueBytes means no byte bound.
	QueueLen   int
	QueueBytes int64
	// OnMessage receives every message read, on the link's reader
	// goroutine; the link reads nothing more until it returns.
	OnMessage func(l *Link, frames [][]byte)
	// ReuseFrames says that OnMessage keeps no reference to the frames
	// slice it is given once it returns (it may keep the frames
	// themselves): the reader then reads every message into the same
	// slice. Default false: a new slice per message.
	ReuseFrames bool
	// OnIdle, when set, runs on the reader goroutine after OnMessage
	// whenever no whole message is left in the input already read (the
	// next read may wait for the network), and once when the reader
	// stops: an OnMessage that collects messages to hand them on
	// together hands them on there, so that none waits for the network.
	OnIdle func(l *Link)
	// OnClose runs once, after the reader and writer have stopped and
	// before Done is closed. It must not call l.Close.
	OnClose func(l *Link, err error)
	// Heartbeat, when positive and the peer speaks ZMTP 3.1, sends a
	// PING every Heartbeat and ends the link when nothing has been read
	// for HeartbeatTimeout (default 3 × Heartbeat).
	Heartbeat        time.Duration
	HeartbeatTimeout time.Duration
	// WriteTimeout ends the link when the peer takes none of our bytes
	// for that long (it stopped reading, or hangs). Default
	// HeartbeatTimeout with heartbeats on, else DefaultWriteTimeout; a
	// negative value means no bound.
	WriteTimeout time.Duration
	// Value is the owner's per-link state, returned by Link.Value.
	Value any
	// OnRoom, when set, runs on the writer goroutine when the send
	// queue has room again after Backlogged reported it full. It must
	// not block.
	OnRoom func(l *Link)
}

// Link runs one zmtp.Conn: a reader goroutine and a writer goroutine
// that drains the bounded send queue in batches, one flush per batch.
type Link struct {
	conn *zmtp.Conn
	cfg  LinkConfig
	q    *queue
	wmu  sync.Mutex // held by whoever writes to conn

	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	running   atomic.Int32
	errMu     sync.Mutex
	err       error

	sent, dropped atomic.Uint64

	// heartbeat state, owned by the writer goroutine
	seenReceived uint64
	born         time.Time    // with its monotonic reading: the origin of lastTraffic
	lastTraffic  atomic.Int64 // since born, ns: the tick that last saw traffic
}

// StartLink takes ownership of c and starts its goroutines.
func StartLink(c *zmtp.Conn, cfg LinkConfig) *Link {
	cfg = cfg.withDefaults(c.PeerMinor())
	l := &Link{conn: c, cfg: cfg, q: newQueue(cfg.QueueLen, cfg.QueueBytes), closing: make(chan struct{}), done: make(chan struct{}), born: time.Now()}
	c.SetWriteTimeout(max(cfg.WriteTimeout, 0))
	l.running.Store(2)
	go l.readLoop()
	go l.writeLoop()
	return l
}

func (cfg LinkConfig) withDefaults(peerMinor byte) LinkConfig {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.Heartbeat > 0 && cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 3 * cfg.Heartbeat
	}
	if peerMinor < 1 {
		cfg.Heartbeat = 0 // a ZMTP 3.0 peer does not answer PING
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
		if cfg.Heartbeat > 0 {
			cfg.WriteTimeout = cfg.HeartbeatTimeout
		}
	}
	return cfg
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

// SendNow is for a sender that expects to be alone: when the link is
// idle (nothing queued, no write in progress) it writes frames on the
// caller's goroutine, saving the hand-off to the writer, and never
// waits for the peer there (what the socket does not take at once is
// left to the writer); otherwise it queues them under policy p like
// Send or TrySend. Senders that send in bursts should use Send, whose
// writer batches many messages into one write. The link owns frames
// from then on.
func (l *Link) SendNow(ctx context.Context, frames [][]byte, p Policy) error {
	if done, err := l.writeDirect(frames); done {
		return err
	}
	if p == Block {
		return l.Send(ctx, frames)
	}
	_, err := l.TrySend(frames, p)
	return err
}

// writeDirect writes frames at once if the link is idle; done is false
// when the caller must queue them instead.
func (l *Link) writeDirect(frames [][]byte) (done bool, err error) {
	if !l.wmu.TryLock() {
		return false, nil
	}
	defer l.wmu.Unlock()
	if l.q.len() > 0 || l.conn.Pending() {
		return false, nil // what waits goes first
	}
	select {
	case <-l.closing:
		return true, l.sendResult(ErrClosed)
	default:
	}
	pending, err := l.conn.WriteMessageNow(frames)
	if err != nil {
		l.fail(err)
		return true, err
	}
	if pending {
		l.q.poke() // the writer finishes it
	}
	l.sent.Add(1)
	return true, nil
}

// QueueFull reports whether Send of frames would have to wait for room
// now.
func (l *Link) QueueFull(frames [][]byte) bool { return l.q.full(msgSize(frames)) }

// Backlogged reports whether the send queue is at or over one of its
// bounds (count or bytes); if so, OnRoom runs once it has room again.
// A sender that queues with Force calls it to know when to hold back.
func (l *Link) Backlogged() bool { return l.q.over() }

// WaitRoom returns once the send queue is under its bounds (count and
// bytes), or the link stops, or ctx ends. A reader that produces
// replies calls it before taking on more work, so that a peer that
// does not read is not answered into unbounded memory.
func (l *Link) WaitRoom(ctx context.Context) error {
	return l.sendResult(l.q.waitRoom(ctx))
}

// TrySend queues frames without waiting, applying p (DropNewest,
// DropOldest or Force) when the queue is full. It reports whether a
// message was dropped; drops are also counted in Stats.
func (l *Link) TrySend(frames [][]byte, p Policy) (dropped bool, err error) {
	n, err := l.q.push(context.Background(), frames, p)
	if n > 0 {
		l.dropped.Add(uint64(n))
	}
	if err == ErrQueueFull {
		return true, nil
	}
	return n > 0, l.sendResult(err)
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
	QueuedBytes   int64
}

// Stats returns the link's counters.
func (l *Link) Stats() LinkStats {
	n, b := l.q.stats()
	return LinkStats{Sent: l.sent.Load(), Dropped: l.dropped.Load(), Queued: n, QueuedBytes: b}
}

// Silence is how long the peer has sent nothing, as the heartbeat saw
// it (to within one Heartbeat): a peer that answers PINGs is never
// silent for much longer than Heartbeat. It is 0 without heartbeats.
func (l *Link) Silence() time.Duration {
	if l.cfg.Heartbeat <= 0 {
		return 0
	}
	return time.Since(l.born) - time.Duration(l.lastTraffic.Load())
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
	var reuse [][]byte
	for {
		frames, err := l.conn.ReadMessageInto(reuse)
		if err != nil {
			if l.cfg.OnIdle != nil {
				l.cfg.OnIdle(l)
			}
			l.fail(err)
			return
		}
		if l.cfg.OnMessage != nil {
			l.cfg.OnMessage(l, frames)
		}
		if l.cfg.OnIdle != nil && !l.conn.MessageBuffered() {
			l.cfg.OnIdle(l)
		}
		if l.cfg.ReuseFrames {
			clear(frames) // pin no frame until the next message
			reuse = frames
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
	batch, room := l.q.take()
	defer l.q.recycle(batch)
	if room && l.cfg.OnRoom != nil {
		l.cfg.OnRoom(l)
	}
	if err := l.conn.WriteMessages(batch); err != nil {
		return err
	}
	if err := l.conn.Flush(); err != nil {
		return err
	}
	l.sent.Add(uint64(len(batch)))
	return nil
}

func (l *Link) heartbeat() error {
	now := time.Since(l.born)
	if n := l.conn.Received(); n != l.seenReceived {
		l.seenReceived = n
		l.lastTraffic.Store(int64(now))
	}
	if now-time.Duration(l.lastTraffic.Load()) > l.cfg.HeartbeatTimeout {
		return ErrHeartbeatTimeout
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return l.conn.Ping(l.cfg.HeartbeatTimeout)
}
