package proxy

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Handler serves one request: it gets the request's body frames and
// returns the reply's. An error (or a panic) gives the request back to
// the proxy, which retries it on another worker within its retry
// limit. Serve must return when ctx ends (the worker is closing).
type Handler interface {
	Serve(ctx context.Context, body [][]byte) ([][]byte, error)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, body [][]byte) ([][]byte, error)

// Serve calls f.
func (f HandlerFunc) Serve(ctx context.Context, body [][]byte) ([][]byte, error) { return f(ctx, body) }

// WorkerStats counts a worker's activity.
type WorkerStats struct {
	Connected bool   `json:"connected"`
	Connects  uint64 `json:"connects"` // successful connects, the first included
	Served    uint64 `json:"served"`   // requests answered
	Failed    uint64 `json:"failed"`   // requests given back (handler error or panic)
	Malformed uint64 `json:"malformed"`
}

// Worker connects to a Queue or a Broker and serves requests, one at a
// time. It says READY on every connect, sends a heartbeat every
// interval (also while the handler runs) and, when the proxy stays
// silent for liveness intervals or its connection ends, reconnects
// with backoff — so it comes back by itself after a proxy restart.
type Worker struct {
	proto    workerProto
	h        Handler
	cfg      config
	ctx      context.Context
	cancel   context.CancelFunc
	sess     *sock.Session
	jobs     chan job
	kick     chan *sock.Link
	wg       sync.WaitGroup
	lastSeen atomic.Int64 // unix nanoseconds
	closer   closer

	connects, served, failed, malformed atomic.Uint64
}

type job struct {
	link *sock.Link
	id   []byte
	env  [][]byte
	body [][]byte
}

// NewWorker starts a Paranoid Pirate worker for the Queue whose backend
// is endpoint ("?key=Z85" appended for a CURVE queue). Options:
// WithHeartbeat, WithReconnect, WithMaxMessageSize,
// WithHandshakeTimeout, WithSecurity.
func NewWorker(endpoint string, h Handler, opts ...Option) (*Worker, error) {
	return startWorker(endpoint, ppWorker{}, h, opts)
}

// NewServiceWorker starts a Majordomo worker for service on the Broker
// at endpoint. Options as for NewWorker.
func NewServiceWorker(endpoint, service string, h Handler, opts ...Option) (*Worker, error) {
	if !validService([]byte(service)) || strings.HasPrefix(service, mmiPrefix) {
		return nil, fmt.Errorf("%w: %q", ErrBadService, service)
	}
	return startWorker(endpoint, mdpWorkerProto{service: []byte(service)}, h, opts)
}

func startWorker(endpoint string, p workerProto, h Handler, opts []Option) (*Worker, error) {
	cfg, err := buildConfig(kindWorker, opts)
	if err != nil {
		return nil, err
	}
	endpoint, sec, err := dialSecurity(cfg.sec.front, endpoint)
	if err != nil {
		return nil, err
	}
	if _, err := sock.ParseEndpoint(endpoint); err != nil {
		return nil, err
	}
	w := &Worker{proto: p, h: h, cfg: cfg, jobs: make(chan job, 1), kick: make(chan *sock.Link, 1), closer: newCloser()}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.sess = sock.StartSession(sock.SessionConfig{
		Endpoint:         endpoint,
		ZMTP:             zmtp.Config{Type: zmtp.Dealer, MaxMessageSize: cfg.maxMessageSize, Security: sec},
		HandshakeTimeout: cfg.handshakeTimeout,
		Link:             sock.LinkConfig{OnMessage: w.onMessage},
		MinBackoff:       cfg.minReconnect,
		MaxBackoff:       cfg.maxReconnect,
		OnUp:             w.onUp,
	})
	w.wg.Add(2)
	go w.serveLoop()
	go w.heartbeatLoop()
	return w, nil
}

func (w *Worker) seen() { w.lastSeen.Store(time.Now().UnixNano()) }

func (w *Worker) onUp(l *sock.Link) {
	w.seen()
	w.connects.Add(1)
	l.TrySend(w.proto.ready(), sock.DropNewest)
}

func (w *Worker) onMessage(l *sock.Link, frames [][]byte) {
	w.seen()
	kind, j := w.proto.parse(frames)
	switch kind {
	case fromHeartbeat:
	case fromDisconnect:
		select {
		case w.kick <- l:
		default:
		}
	case fromRequest:
		j.link = l
		select {
		case w.jobs <- j:
		default:
			w.malformed.Add(1) // the proxy sent a second request: not ours to take
		}
	default:
		w.malformed.Add(1)
	}
}

func (w *Worker) serveLoop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case j := <-w.jobs:
			w.serve(j)
		}
	}
}

func (w *Worker) serve(j job) {
	reply, err := w.call(j.body)
	if w.ctx.Err() != nil {
		return
	}
	if err != nil {
		w.failed.Add(1)
		j.link.TrySend(w.proto.ready(), sock.DropNewest) // give it back
		return
	}
	if j.link.Send(w.ctx, w.proto.reply(j, reply)) == nil {
		w.served.Add(1)
	}
}

// call runs the handler, turning a panic into an error.
func (w *Worker) call(body [][]byte) (reply [][]byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("proxy: handler panic: %v", p)
		}
	}()
	return w.h.Serve(w.ctx, body)
}

func (w *Worker) heartbeatLoop() {
	defer w.wg.Done()
	t := time.NewTicker(w.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case l := <-w.kick:
			l.Close() // the proxy said DISCONNECT: reconnect
		case <-t.C:
			l := w.sess.Current()
			if l == nil {
				continue
			}
			if time.Since(time.Unix(0, w.lastSeen.Load())) > w.cfg.expiry() {
				l.Close() // the proxy is silent: reconnect
				continue
			}
			l.TrySend(w.proto.heartbeat(), sock.DropNewest)
		}
	}
}

// Stats returns the worker's counters.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{
		Connected: w.sess.Current() != nil, Connects: w.connects.Load(),
		Served: w.served.Load(), Failed: w.failed.Load(), Malformed: w.malformed.Load(),
	}
}

// Close stops the worker: a Majordomo worker says DISCONNECT first, a
// request in progress has its context cancelled and is not answered
// (the proxy retries it elsewhere). Close is idempotent and returns
// after every goroutine has exited.
func (w *Worker) Close() error {
	w.closer.do(func() {
		if msg := w.proto.disconnect(); msg != nil {
			if l := w.sess.Current(); l != nil {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				l.SendNow(ctx, msg, sock.Block)
				cancel()
			}
		}
		w.cancel()
		w.sess.Close()
		w.wg.Wait()
	})
	return nil
}

// fromKind classifies what a worker receives.
type fromKind int

const (
	fromMalformed fromKind = iota
	fromHeartbeat
	fromRequest
	fromDisconnect
)

// workerProto is the worker side of a protocol.
type workerProto interface {
	ready() [][]byte
	heartbeat() [][]byte
	disconnect() [][]byte // nil: none
	parse(frames [][]byte) (fromKind, job)
	reply(j job, body [][]byte) [][]byte
}

// ppWorker is the Paranoid Pirate worker protocol.
type ppWorker struct{}

func (ppWorker) ready() [][]byte      { return [][]byte{{ppReady}} }
func (ppWorker) heartbeat() [][]byte  { return [][]byte{{ppHeartbeat}} }
func (ppWorker) disconnect() [][]byte { return nil }

// parse reads a heartbeat or [address, envelope..., "", body...].
func (ppWorker) parse(frames [][]byte) (fromKind, job) {
	if isCommand(frames, ppHeartbeat) {
		return fromHeartbeat, job{}
	}
	if len(frames) < 2 {
		return fromMalformed, job{}
	}
	env, body, ok := splitEnvelope(frames[1:])
	if !ok {
		return fromMalformed, job{}
	}
	return fromRequest, job{id: frames[0], env: env, body: body}
}

func (ppWorker) reply(j job, body [][]byte) [][]byte {
	m := make([][]byte, 0, 1+len(j.env)+len(body))
	return append(append(append(m, j.id), j.env...), body...)
}

// mdpWorkerProto is the Majordomo (MDP/0.1) worker protocol.
type mdpWorkerProto struct{ service []byte }

func (p mdpWorkerProto) ready() [][]byte    { return mdpWorkerFrames(mdpReady, p.service) }
func (mdpWorkerProto) heartbeat() [][]byte  { return mdpWorkerFrames(mdpHeartbeat) }
func (mdpWorkerProto) disconnect() [][]byte { return mdpWorkerFrames(mdpDisconnect) }

// parse reads ["", "MDPW01", command, ...] from the broker.
func (mdpWorkerProto) parse(frames [][]byte) (fromKind, job) {
	if len(frames) < 3 || len(frames[0]) != 0 || string(frames[1]) != string(mdpWorker) || len(frames[2]) != 1 {
		return fromMalformed, job{}
	}
	switch cmd := frames[2][0]; {
	case cmd == mdpHeartbeat && len(frames) == 3:
		return fromHeartbeat, job{}
	case cmd == mdpDisconnect && len(frames) == 3:
		return fromDisconnect, job{}
	case cmd == mdpRequest && len(frames) >= 5 && len(frames[4]) == 0:
		return fromRequest, job{id: frames[3], body: frames[5:]}
	}
	return fromMalformed, job{}
}

func (mdpWorkerProto) reply(j job, body [][]byte) [][]byte {
	return append(mdpWorkerFrames(mdpReply, j.id, []byte{}), body...)
}
