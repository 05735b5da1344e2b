package proxy

import (
	"context"
	"fmt"
	"strings"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Broker is a service-oriented broker (the Majordomo pattern, speaking
// MDP/0.1). Workers register a service name with READY; clients send a
// request naming a service; the broker queues it (bounded per service)
// until one of that service's workers is idle, sends it to the least
// recently used one and routes the reply back. Heartbeats run both
// ways; the request of a worker that dies is retried like the Queue's.
// The service "mmi.service" answers "200" when the service named in
// the body has a worker and "404" otherwise; other "mmi." services
// answer "501". Clients and workers may use either socket: the
// frontend counts client traffic and the backend worker traffic.
type Broker struct {
	cfg    config
	front  *sock.Router
	back   *sock.Router // nil without a backend endpoint
	tap    *tap
	pool   *pool
	fc, bc sideCounters
	closer closer
}

// NewBroker binds the frontend and, unless backend is "", a second
// socket usually given to workers. Options: WithTap, WithPeerQueue,
// WithPendingLimit (per service), WithMaxMessageSize,
// WithHandshakeTimeout, WithHeartbeat, WithMaxRetries,
// WithFailureReply, WithMaxServices, WithSecurity,
// WithFrontendSecurity, WithBackendSecurity.
func NewBroker(frontend, backend string, opts ...Option) (*Broker, error) {
	cfg, err := buildConfig(kindBroker, opts)
	if err != nil {
		return nil, err
	}
	if backend == "" && cfg.sec.backSet {
		return nil, fmt.Errorf("%w: WithBackendSecurity on a Broker without a backend", ErrBadOption)
	}
	b := &Broker{cfg: cfg, closer: newCloser()}
	b.pool = newPool(&b.cfg, mdpCodec{}, &b.fc, &b.bc)
	if err := b.bind(frontend, backend); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Broker) bind(frontend, backend string) error {
	var err error
	if b.tap, err = newTap(&b.cfg); err != nil {
		return err
	}
	rc := sock.RouterConfig{
		Listen: listenConfig(&b.cfg, b.cfg.sec.frontZ, zmtp.Router, nil), Link: sock.LinkConfig{QueueLen: b.cfg.peerQueue},
		OnMessage: b.onFrontend, OnPeerClose: b.pool.peerGone,
	}
	if b.front, err = sock.ListenRouter(frontend, rc); err != nil || backend == "" {
		return err
	}
	rc.OnMessage = b.onBackend
	rc.Listen.ZMTP.Security = b.cfg.sec.backZ
	b.back, err = sock.ListenRouter(backend, rc)
	return err
}

// FrontendEndpoint returns where clients connect (tcp port 0 resolved).
func (b *Broker) FrontendEndpoint() string { return b.front.Endpoint() }

// BackendEndpoint returns the second socket's endpoint, or "".
func (b *Broker) BackendEndpoint() string {
	if b.back == nil {
		return ""
	}
	return b.back.Endpoint()
}

// TapEndpoint returns the tap's endpoint, or "" without WithTap.
func (b *Broker) TapEndpoint() string { return b.tap.endpoint() }

func (b *Broker) onFrontend(l *sock.Link, frames [][]byte) {
	b.tap.mirror(labelFrontend, frames)
	b.onMessage(l, frames)
}

func (b *Broker) onBackend(l *sock.Link, frames [][]byte) {
	b.tap.mirror(labelBackend, frames)
	b.onMessage(l, frames)
}

func (b *Broker) onMessage(l *sock.Link, frames [][]byte) {
	m, ok := parseMDP(frames)
	side := &b.bc
	if !ok || m.client {
		side = &b.fc
	}
	side.in(frames)
	if ok && m.client {
		b.onClient(l, m)
		return
	}
	if !ok || !b.onWorker(l, m) {
		side.malformed.Add(1)
	}
}

func (b *Broker) onClient(l *sock.Link, m mdpMessage) {
	if strings.HasPrefix(m.service, mmiPrefix) {
		send(l, mdpClientFrames(m.service, [][]byte{b.mmi(m)}), &b.fc)
		return
	}
	b.pool.submit(l, m.service, nil, m.body)
}

// mmi answers a Majordomo Management Interface request.
func (b *Broker) mmi(m mdpMessage) []byte {
	if m.service != "mmi.service" {
		return mmiUnsupported
	}
	if len(m.body) > 0 && b.pool.available(string(m.body[0])) {
		return mmiFound
	}
	return mmiNotFound
}

func (b *Broker) onWorker(l *sock.Link, m mdpMessage) bool {
	switch m.command {
	case mdpReady:
		if strings.HasPrefix(m.service, mmiPrefix) || !b.pool.ready(l, m.service) {
			send(l, mdpWorkerFrames(mdpDisconnect), &b.bc)
			return false
		}
		return true
	case mdpReply:
		return b.pool.reply(l, m.id, m.body)
	case mdpHeartbeat:
		if !b.pool.touch(l) {
			// Not registered (the broker restarted, or it expired it):
			// DISCONNECT makes an MDP worker reconnect and say READY.
			send(l, mdpWorkerFrames(mdpDisconnect), &b.bc)
			return false
		}
		return true
	case mdpDisconnect:
		b.pool.workerGone(l)
		return true
	}
	return false
}

// Pause stops dispatching: requests wait in their service's queue
// (bounded by WithPendingLimit) until Resume.
func (b *Broker) Pause() { b.pool.pause(true) }

// Resume dispatches the waiting requests and resumes dispatching.
func (b *Broker) Resume() { b.pool.pause(false) }

// Stats returns a snapshot of the broker's counters, with one entry
// per service.
func (b *Broker) Stats() Stats {
	st := Stats{Kind: "broker", Frontend: b.fc.snapshot(b.front.Listener(), b.cfg.sec.front, b.front.Peers())}
	st.Backend = b.bc.snapshot(nil, b.cfg.sec.back, 0)
	if b.back != nil {
		st.Backend = b.bc.snapshot(b.back.Listener(), b.cfg.sec.back, b.back.Peers())
	}
	b.pool.fill(&st, true)
	return st
}

// Shutdown refuses new requests, waits until every request queued or
// in flight is answered (or given up) and written, or ctx ends, sends
// DISCONNECT to the workers and closes. It returns ctx's error when it
// cut the drain.
func (b *Broker) Shutdown(ctx context.Context) error {
	err := b.pool.drain(ctx)
	b.pool.disconnectWorkers(ctx)
	b.Close()
	return err
}

// Close stops the broker at once. It is idempotent and returns after
// every goroutine has exited.
func (b *Broker) Close() error {
	b.closer.do(func() {
		// Routers first: once their links are gone nothing calls into
		// the pool, whose goroutines can then be waited for.
		for _, r := range []*sock.Router{b.front, b.back} {
			if r != nil {
				r.Close()
			}
		}
		b.pool.close()
		b.tap.close()
	})
	return nil
}

// mdpCodec frames the Majordomo messages.
type mdpCodec struct{}

// toWorker is ["", "MDPW01", REQUEST, id, "", body...].
func (mdpCodec) toWorker(r *request) [][]byte {
	return append(mdpWorkerFrames(mdpRequest, r.idFrame(), []byte{}), r.body...)
}

// toClient is ["", "MDPC01", service, body...].
func (mdpCodec) toClient(r *request, body [][]byte) [][]byte {
	return mdpClientFrames(r.name, body)
}

func (mdpCodec) heartbeat() [][]byte  { return mdpWorkerFrames(mdpHeartbeat) }
func (mdpCodec) disconnect() [][]byte { return mdpWorkerFrames(mdpDisconnect) }
