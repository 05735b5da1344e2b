package proxy

import (
	"context"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Queue is a load-balancing broker for workers (the Paranoid Pirate
// pattern). Clients (REQ, or DEALER sending an empty delimiter frame
// before the body) connect to the frontend; workers (DEALER) connect to
// the backend and say READY. Each request goes to the least recently
// used idle worker; heartbeats run both ways; a request whose worker
// dies is sent to another worker, at most WithMaxRetries times. The
// wire protocol is in docs/proxy.md.
type Queue struct {
	cfg    config
	front  *sock.Router
	back   *sock.Router
	tap    *tap
	pool   *pool
	fc, bc sideCounters
	closer closer
}

// NewQueue binds the frontend (clients) and the backend (workers).
// Options: WithTap, WithPeerQueue, WithPendingLimit,
// WithMaxMessageSize, WithHandshakeTimeout, WithHeartbeat,
// WithMaxRetries, WithFailureReply, WithSecurity, WithFrontendSecurity,
// WithBackendSecurity.
func NewQueue(frontend, backend string, opts ...Option) (*Queue, error) {
	cfg, err := buildConfig(kindQueue, opts)
	if err != nil {
		return nil, err
	}
	q := &Queue{cfg: cfg, closer: newCloser()}
	q.pool = newPool(&q.cfg, ppCodec{}, &q.fc, &q.bc)
	if err := q.bind(frontend, backend); err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

func (q *Queue) bind(frontend, backend string) error {
	var err error
	if q.tap, err = newTap(&q.cfg); err != nil {
		return err
	}
	link := sock.LinkConfig{QueueLen: q.cfg.peerQueue}
	q.front, err = sock.ListenRouter(frontend, sock.RouterConfig{
		Listen: listenConfig(&q.cfg, q.cfg.sec.frontZ, zmtp.Router, nil), Link: link,
		OnMessage: q.onClient, OnPeerClose: q.pool.clientGone,
	})
	if err != nil {
		return err
	}
	q.back, err = sock.ListenRouter(backend, sock.RouterConfig{
		Listen: listenConfig(&q.cfg, q.cfg.sec.backZ, zmtp.Router, nil), Link: link,
		OnMessage: q.onWorker, OnPeerClose: q.pool.workerGone,
	})
	return err
}

// FrontendEndpoint returns where clients connect (tcp port 0 resolved).
func (q *Queue) FrontendEndpoint() string { return q.front.Endpoint() }

// BackendEndpoint returns where workers connect.
func (q *Queue) BackendEndpoint() string { return q.back.Endpoint() }

// TapEndpoint returns the tap's endpoint, or "" without WithTap.
func (q *Queue) TapEndpoint() string { return q.tap.endpoint() }

func (q *Queue) onClient(l *sock.Link, frames [][]byte) {
	q.fc.in(frames)
	q.tap.mirror(labelFrontend, frames)
	env, body, ok := splitEnvelope(frames)
	if !ok {
		q.fc.malformed.Add(1)
		return
	}
	q.pool.submit(l, "", env, body)
}

func (q *Queue) onWorker(l *sock.Link, frames [][]byte) {
	q.bc.in(frames)
	q.tap.mirror(labelBackend, frames)
	var ok bool
	switch {
	case isCommand(frames, ppReady):
		ok = q.pool.ready(l, "")
	case isCommand(frames, ppHeartbeat):
		ok = q.pool.touch(l)
	case len(frames) >= 2:
		ok = q.reply(l, frames)
	}
	if !ok {
		q.bc.malformed.Add(1)
	}
}

// reply handles [id, envelope..., "", body...] from a worker.
func (q *Queue) reply(l *sock.Link, frames [][]byte) bool {
	id, ok := parseID(frames[0])
	if !ok {
		return false
	}
	_, body, ok := splitEnvelope(frames[1:])
	return ok && q.pool.reply(l, id, body)
}

// Pause stops dispatching: requests wait in the pending queue (bounded
// by WithPendingLimit) until Resume. Replies and heartbeats still flow.
func (q *Queue) Pause() { q.pool.pause(true) }

// Resume dispatches the waiting requests and resumes dispatching.
func (q *Queue) Resume() { q.pool.pause(false) }

// Stats returns a snapshot of the queue's counters.
func (q *Queue) Stats() Stats {
	st := Stats{
		Kind:     "queue",
		Frontend: q.fc.snapshot(q.front.Listener(), q.cfg.sec.front, q.front.Peers()),
		Backend:  q.bc.snapshot(q.back.Listener(), q.cfg.sec.back, q.back.Peers()),
	}
	q.pool.fill(&st, false)
	return st
}

// Shutdown refuses new requests, waits until every request queued or
// in flight is answered (or given up) and its reply written, or ctx
// ends, then closes. It returns ctx's error when it cut the drain.
func (q *Queue) Shutdown(ctx context.Context) error {
	err := q.pool.drain(ctx)
	q.Close()
	return err
}

// Close stops the queue at once. It is idempotent and returns after
// every goroutine has exited.
func (q *Queue) Close() error {
	q.closer.do(func() {
		// Routers first: once their links are gone nothing calls into
		// the pool, whose goroutines can then be waited for.
		for _, r := range []*sock.Router{q.front, q.back} {
			if r != nil {
				r.Close()
			}
		}
		q.pool.close()
		q.tap.close()
	})
	return nil
}

// ppCodec frames the Paranoid Pirate messages.
type ppCodec struct{}

// toWorker is [id, envelope..., "", body...].
func (ppCodec) toWorker(r *request) [][]byte {
	m := make([][]byte, 0, 1+len(r.env)+len(r.body))
	return append(append(append(m, r.idFrame()), r.env...), r.body...)
}

// toClient is [envelope..., "", body...].
func (ppCodec) toClient(r *request, body [][]byte) [][]byte {
	m := make([][]byte, 0, len(r.env)+len(body))
	return append(append(m, r.env...), body...)
}

func (ppCodec) heartbeat() [][]byte  { return [][]byte{{ppHeartbeat}} }
func (ppCodec) disconnect() [][]byte { return nil }
