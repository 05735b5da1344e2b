package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// reservedPrefix starts the names of zmp's own services; they are not
// listed in the registry and cannot be provided by users.
const reservedPrefix = "zmp."

// isReserved reports whether name belongs to zmp's own services.
func isReserved(name string) bool { return strings.HasPrefix(name, reservedPrefix) }

// Peer is a participant in a zmp system: it provides services,
// publishes topics, calls services and subscribes to topics. Every
// running Node has one; a program that is not a node makes its own
// with NewPeer. A Peer binds one RPC socket and one pub socket, and is
// listed in the registry under its name while it lives.
type Peer struct {
	cfg     config
	name    string
	id      string
	host    string
	reg     Registry
	started time.Time

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	router *sock.Router
	pub    *sock.Pub
	srv    *server
	cli    *client
	subs   *subscriber
	topics *topics

	watch *watcher // the registry as last read

	invoker Invoker     // the call interceptors' chain; nil without any
	extra   statSources // AddStats

	streamMu   sync.Mutex
	streamSvcs map[*streamService]struct{} // with streams open (stream_conns.go)

	regMu        sync.Mutex    // serialises registry writes
	leaving      bool          // under regMu: deregistered, renew no more
	regKick      chan struct{} // capacity 1: write the entry now
	ownsRegistry bool          // made from the environment: closed with the peer
	closeOnce    sync.Once
	closeDone    chan struct{}
	closeErr     error
}

// NewPeer binds the peer's sockets and registers it under name; an
// empty name gets a unique generated one. ctx bounds the registration.
// When the registry cannot be reached (ErrRegistryUnavailable), the
// peer starts all the same, serves, and registers in the background as
// soon as the registry answers; a refusal (ErrNameTaken) fails it.
// Options that apply to nodes only are refused.
func NewPeer(ctx context.Context, name string, opts ...Option) (*Peer, error) {
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := cfg.reject(nodeOnly, "NewPeer"); err != nil {
		return nil, err
	}
	return newPeer(ctx, name, cfg)
}

func newPeer(ctx context.Context, name string, cfg config) (*Peer, error) {
	id := newID()
	if name == "" {
		name = "node-" + id[:12]
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	ownsRegistry := cfg.registry == nil
	if ownsRegistry {
		addr := cfg.registryAddr
		if addr == "" {
			addr = os.Getenv(EnvRegistry)
		}
		r, err := ParseRegistry(addr, append([]Option{WithSecurity(cfg.security)}, cfg.openerOptions()...)...)
		if err != nil {
			return nil, err
		}
		cfg.registry = r
	}
	host, _ := os.Hostname()
	p := &Peer{
		cfg: cfg, name: name, id: id, host: host, reg: cfg.registry, started: time.Now(),
		ownsRegistry: ownsRegistry, regKick: make(chan struct{}, 1), closeDone: make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if len(cfg.callIntercept) > 0 {
		p.invoker = chainCalls(cfg.callIntercept, p.invokeLast)
	}
	p.srv = newServer(p)
	p.cli = newClient(p)
	p.subs = newSubscriber(p)
	p.topics = newTopics()
	p.watch = newWatcher(p)
	if err := p.bind(); err != nil {
		p.shutdown()
		return nil, err
	}
	p.srv.start()
	p.addIntrospection()
	if err := p.register(ctx); err != nil && !errors.Is(err, ErrRegistryUnavailable) {
		p.shutdown()
		return nil, err
	} else if err != nil {
		p.cfg.logger.Warn("zmp: registry unavailable; serving unregistered until it answers", "node", p.name, "err", err)
		p.requestRegistration()
	}
	p.wg.Add(3)
	go p.registrarLoop()
	go p.watch.loop()
	go p.cli.sweepLoop()
	return p, nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Name returns the peer's name in the registry.
func (p *Peer) Name() string { return p.name }

// ID returns the unique id of this peer instance.
func (p *Peer) ID() string { return p.id }

// Registry returns the registry the peer is listed in.
func (p *Peer) Registry() Registry { return p.reg }

// Codec returns the codec of the typed helpers.
func (p *Peer) Codec() Codec { return p.cfg.codec }

// Context returns a context that ends when the peer closes.
func (p *Peer) Context() context.Context { return p.ctx }

// Info returns the peer's registry entry as it is now.
func (p *Peer) Info() NodeInfo {
	return NodeInfo{
		Name:     p.name,
		ID:       p.id,
		PID:      os.Getpid(),
		Host:     p.host,
		RPC:      p.router.Endpoint(),
		Pub:      p.pub.Endpoint(),
		Services: p.srv.names(),
		Topics:   p.topics.names(),
		Started:  p.started,
		Security: p.securityName(),
		Key:      p.publicKeyText(),
		Labels:   cloneLabels(p.cfg.labels), // a copy: callers may change theirs
	}
}

func (p *Peer) securityName() string {
	if m := p.cfg.security.Mechanism(); m != zmtp.MechanismNull {
		return m
	}
	return ""
}

func (p *Peer) publicKeyText() string {
	if p.cfg.security.Mechanism() != zmtp.MechanismCurve {
		return ""
	}
	return p.cfg.security.PublicKey().String()
}

func (p *Peer) zmtpConfig(t zmtp.SocketType) zmtp.Config {
	return zmtp.Config{Type: t, MaxMessageSize: p.cfg.maxMessageSize, Metadata: zmtp.Metadata{"X-Zmp-Node": p.name}, Security: p.cfg.security.server()}
}

func (p *Peer) bind() error {
	rpcEP, pubEP, err := p.endpoints()
	if err != nil {
		return err
	}
	listen := sock.ListenConfig{ZMTP: p.zmtpConfig(zmtp.Router), HandshakeTimeout: p.cfg.handshakeTimeout}
	link := sock.LinkConfig{QueueBytes: p.cfg.queueBytes, WriteTimeout: p.cfg.writeTimeout}
	rpcLink := link
	rpcLink.OnRoom = p.srv.onRoom
	p.router, err = sock.ListenRouter(rpcEP, sock.RouterConfig{
		Listen: listen, Link: rpcLink, NewValue: newConnState,
		OnMessage: p.srv.onMessage, OnPeerClose: p.srv.peerClosed,
	})
	if err != nil {
		return fmt.Errorf("core: binding %s: %w", rpcEP, err)
	}
	listen.ZMTP = p.zmtpConfig(zmtp.Pub)
	link.QueueLen = p.cfg.pubQueue
	p.pub, err = sock.ListenPub(pubEP, sock.PubConfig{Listen: listen, Link: link, Policy: p.cfg.pubOverflow.sockPolicy()})
	if err != nil {
		return fmt.Errorf("core: binding %s: %w", pubEP, err)
	}
	return nil
}

func (p *Peer) endpoints() (rpc, pub string, err error) {
	rpc, pub = p.cfg.rpcEndpoint, p.cfg.pubEndpoint
	if p.cfg.transport == TCP {
		host := p.cfg.host
		if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
			host = "[" + host + "]"
		}
		return cmpOr(rpc, "tcp://"+host+":0"), cmpOr(pub, "tcp://"+host+":0"), nil
	}
	dir := cmpOr(p.cfg.runtimeDir, DefaultRegistryDir())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("core: runtime dir: %w", err)
	}
	base := filepath.Join(dir, p.id[:16])
	return cmpOr(rpc, "ipc://"+base+".rpc"), cmpOr(pub, "ipc://"+base+".pub"), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// shutdownLinger bounds how long Shutdown waits, after telling callers
// it is going, for them to disconnect: zmp callers leave as soon as
// their calls in flight are answered; other clients never do. Requests
// arriving meanwhile are answered CodeUnavailable (not run), not lost.
const shutdownLinger = time.Second

// Shutdown stops the peer gracefully: it leaves the registry, tells
// connected callers to send no more requests (zmp callers move to other
// providers and disconnect once their calls here are answered), answers
// requests that still arrive with CodeUnavailable (which callers retry
// elsewhere), waits until its callers have gone (at most 1 s) and its
// running handlers have replied, and then closes like Close.
//
// When ctx ends first, Shutdown returns ctx's error at once, having
// cancelled the running handlers' contexts and begun to close the peer
// as Close does; Close waits until that is done.
func (p *Peer) Shutdown(ctx context.Context) error {
	err := p.leave(ctx)
	p.srv.beginDrain()
	linger := time.NewTimer(shutdownLinger)
	defer linger.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for lingering := true; lingering || p.srv.active.Load() > 0; {
		select {
		case <-ctx.Done():
			p.cancel()
			go p.Close()
			return errors.Join(ctx.Err(), err)
		case <-linger.C:
			lingering = false
		case <-tick.C:
			lingering = lingering && p.router.Peers() > 0
		}
	}
	return errors.Join(err, p.Close())
}

// Close withdraws the peer from the registry, stops its handlers
// (their contexts are cancelled), closes every connection and waits
// for all of its goroutines. It is idempotent. Shutdown is the
// graceful form.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		defer close(p.closeDone)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := p.leave(ctx)
		p.cancel()
		p.closeErr = errors.Join(err, p.shutdown())
	})
	<-p.closeDone
	return p.closeErr
}

func (p *Peer) shutdown() error {
	p.cancel()
	var errs []error
	if p.router != nil {
		errs = append(errs, p.router.Close())
	}
	if p.pub != nil {
		errs = append(errs, p.pub.Close())
	}
	p.srv.stop()
	p.cli.close()
	p.subs.close()
	p.wg.Wait()
	if c, ok := p.reg.(io.Closer); ok && p.ownsRegistry {
		errs = append(errs, c.Close())
	}
	return errors.Join(slices.DeleteFunc(errs, func(e error) bool { return e == nil })...)
}
