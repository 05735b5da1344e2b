package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gozmp/zmp/internal/sock"
)

// Services of a registry node.
const (
	registryRegister   = "zmp.registry.register"
	registryDeregister = "zmp.registry.deregister"
	registryNodes      = "zmp.registry.nodes"
	registryWatch      = "zmp.registry.watch"
)

// RegistryServer is a registry node: a peer whose RPC endpoint serves a
// Registry to nodes on any host that point at it (ZMP_REGISTRY=tcp://…).
//
// Entries are bound to the connection they were registered over: when
// it closes (the node's process died, or the node was cut off long
// enough for its heartbeats to fail) they are removed at once, without
// waiting for the lease. A node that is still alive registers again
// when its registry client reconnects.
//
// An entry belongs to the client that registered it: only a request
// over the same connection, or one that presents the token the first
// registration returned (a client that reconnected), may renew, change
// or remove it; under CURVE the client's key must match too. Others
// get ErrNotOwner.
//
// The server pushes every change of the registry to the clients that
// watch it (RemoteRegistry.Watch) on its PUB socket, topic
// zmp.registry.changes; see docs/protocol.md.
type RegistryServer struct {
	peer *Peer
	reg  Registry

	mu     sync.Mutex
	owners map[entryKey]entryOwner

	push      registryPush
	ctx       context.Context // the server's lifetime: Close cancels it
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

type entryKey struct{ name, id string }

// entryOwner is who registered an entry.
type entryOwner struct {
	link  *sock.Link
	token string
	key   Key // the CURVE client key; zero otherwise
}

// NewRegistryServer serves backing (a new MemRegistry when nil) on
// endpoint, e.g. tcp://0.0.0.0:5550. The server's own peer is listed in
// backing under the name "zmp-registry". Changes are pushed from its
// PUB socket: at the pub endpoint of WithEndpoints("", pub) when given,
// else on a free port of endpoint's interface (for ipc, at endpoint's
// path with ".pub" appended).
func NewRegistryServer(ctx context.Context, endpoint string, backing Registry, opts ...Option) (*RegistryServer, error) {
	if backing == nil {
		backing = NewMemRegistry()
	}
	pub := registryPubEndpoint(endpoint)
	if c, err := buildConfig(opts); err == nil && c.pubEndpoint != "" {
		pub = c.pubEndpoint // given with WithEndpoints(…, pub)
	}
	opts = append(opts, WithRegistry(backing), WithEndpoints(endpoint, pub))
	p, err := NewPeer(ctx, "zmp-registry", opts...)
	if err != nil {
		return nil, err
	}
	s := &RegistryServer{peer: p, reg: backing, owners: map[entryKey]entryOwner{}}
	s.push.init(p)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	p.srv.watchPeers(s.connectionClosed)
	p.srv.add(registryRegister, HandlerFunc(s.register))
	p.srv.add(registryDeregister, HandlerFunc(s.deregister))
	p.srv.add(registryNodes, HandlerFunc(s.nodes))
	p.srv.add(registryWatch, HandlerFunc(s.watch))
	if err := p.Advertise(registryChanges); err != nil {
		s.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.pushLoop()
	return s, nil
}

// Endpoint returns where the registry is served.
func (s *RegistryServer) Endpoint() string { return s.peer.Info().RPC }

// Address is what clients pass to ParseRegistry or NewRemoteRegistry:
// the endpoint, followed by "?key=" and the public key when the
// registry node runs CURVE.
func (s *RegistryServer) Address() string {
	if k := s.peer.Info().Key; k != "" {
		return s.Endpoint() + "?key=" + k
	}
	return s.Endpoint()
}

// Peer returns the server's peer, for its stats.
func (s *RegistryServer) Peer() *Peer { return s.peer }

// Close stops serving and pushing, and waits for the server's
// goroutines. It is idempotent.
func (s *RegistryServer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		err = s.peer.Close()
	})
	return err
}

// registerRequest is the body of zmp.registry.register; Token is the
// one an earlier registration of the entry returned, if any.
type registerRequest struct {
	Info       NodeInfo `json:"info"`
	TTLSeconds float64  `json:"ttl_seconds"`
	Token      string   `json:"token,omitempty"`
}

// registerReply is the reply of zmp.registry.register.
type registerReply struct {
	Token string `json:"token"`
}

// deregisterRequest is the body of zmp.registry.deregister.
type deregisterRequest struct {
	Name  string `json:"name"`
	ID    string `json:"id"`
	Token string `json:"token,omitempty"`
}

// claim returns the owner an entry gets from request r presenting
// token, or a RemoteError when the entry belongs to someone else.
func (s *RegistryServer) claim(k entryKey, r *Request, token string) (entryOwner, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.owners[k]
	switch {
	case !ok:
		if token == "" {
			token = newID()
		}
		return entryOwner{link: r.conn, token: token, key: r.ClientKey}, nil
	case cur.key != r.ClientKey:
	case cur.link == r.conn || (token != "" && token == cur.token):
		cur.link = r.conn
		return cur, nil
	}
	return entryOwner{}, NewError(codeNotOwner, "entry %q (id %s) belongs to another client", k.name, k.id)
}

func (s *RegistryServer) register(ctx context.Context, r *Request) ([]byte, error) {
	var req registerRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return nil, NewError(CodeBadRequest, "%v", err)
	}
	k := entryKey{req.Info.Name, req.Info.ID}
	owner, err := s.claim(k, r, req.Token)
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(req.TTLSeconds * float64(time.Second))
	if err := s.reg.Register(ctx, req.Info, ttl); err != nil {
		return nil, remoteRegistryError(err)
	}
	s.mu.Lock()
	s.owners[k] = owner
	s.mu.Unlock()
	s.push.changed()
	return json.Marshal(registerReply{Token: owner.token})
}

// connectionClosed removes the entries last registered over l.
func (s *RegistryServer) connectionClosed(l *sock.Link) {
	s.mu.Lock()
	var gone []entryKey
	for k, o := range s.owners {
		if o.link == l {
			gone = append(gone, k)
			delete(s.owners, k)
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, k := range gone {
		s.reg.Deregister(ctx, k.name, k.id)
	}
	if len(gone) > 0 {
		s.push.changed()
	}
}

func (s *RegistryServer) deregister(ctx context.Context, r *Request) ([]byte, error) {
	var req deregisterRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return nil, NewError(CodeBadRequest, "%v", err)
	}
	k := entryKey{req.Name, req.ID}
	if _, err := s.claim(k, r, req.Token); err != nil {
		return nil, err
	}
	s.mu.Lock()
	delete(s.owners, k)
	s.mu.Unlock()
	defer s.push.changed()
	return nil, remoteRegistryError(s.reg.Deregister(ctx, req.Name, req.ID))
}

func (s *RegistryServer) nodes(ctx context.Context, _ *Request) ([]byte, error) {
	nodes, err := s.reg.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(nodes)
}

// Application codes a registry node uses.
const (
	codeNameTaken Code = 100 // ErrNameTaken
	codeNotOwner  Code = 101 // ErrNotOwner
)

func remoteRegistryError(err error) error {
	if err != nil && isNameTaken(err) {
		return NewError(codeNameTaken, "%v", err)
	}
	return err
}

// RemoteRegistry is the client of a registry node. It remembers the
// entries it was asked to register, with the token each got, and
// registers them again as soon as it (re)connects: after a network
// blip, a restart of the registry node, or when the registry was down
// at the first attempt. While the registry node cannot be reached its
// methods fail at once with ErrRegistryUnavailable.
type RemoteRegistry struct {
	cfg  config
	conn *providerConn

	mu      sync.Mutex
	entries map[entryKey]registerRequest
	closed  bool
	done    chan struct{} // closed by Close: watches end
	wg      sync.WaitGroup
}

// registryBackoff bounds the wait between reconnects to a registry
// node, so that its return is noticed within that.
const registryBackoff = 250 * time.Millisecond

// NewRemoteRegistry returns a client for the registry node at endpoint.
// It connects in the background and reconnects after failures. When
// the registry node runs CURVE, give its public key in the address,
// "tcp://host:port?key=Z85" (RegistryServer.Address returns that form),
// and this node's security with WithSecurity.
func NewRemoteRegistry(endpoint string, opts ...Option) (*RemoteRegistry, error) {
	endpoint, key := splitKeyedAddress(endpoint)
	cfg, err := buildConfig(append([]Option{WithEndpoints(endpoint, "")}, opts...))
	if err != nil {
		return nil, err
	}
	if err := cfg.reject(nodeOnly, "NewRemoteRegistry"); err != nil {
		return nil, err
	}
	if cfg.labels != nil {
		return nil, errors.New("core: NewRemoteRegistry does not take WithLabels")
	}
	r := &RemoteRegistry{cfg: cfg, entries: map[entryKey]registerRequest{}, done: make(chan struct{})}
	n := NodeInfo{Name: "zmp-registry", RPC: endpoint, Key: key}
	// Not a provider among others: its handshakes get the full timeout.
	r.conn = newProviderConn(&r.cfg, "", n, connHooks{up: r.connected, maxBackoff: registryBackoff, handshakeTimeout: cfg.handshakeTimeout})
	return r, nil
}

func (r *RemoteRegistry) connected(bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || len(r.entries) == 0 {
		return
	}
	r.wg.Add(1)
	go r.replay()
}

// replay registers every remembered entry again.
func (r *RemoteRegistry) replay() {
	defer r.wg.Done()
	r.mu.Lock()
	reqs := make([]registerRequest, 0, len(r.entries))
	for _, req := range r.entries {
		reqs = append(reqs, req)
	}
	r.mu.Unlock()
	for _, req := range reqs {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.callTimeout)
		r.register(ctx, req)
		cancel()
	}
}

// ready waits until the connection is up: while the first dial is
// under way (bounded by the handshake timeout), or ctx ends. When the
// registry node is known to be down (a dial failed, or the connection
// was lost) it fails at once with ErrRegistryUnavailable.
func (r *RemoteRegistry) ready(ctx context.Context) error {
	for !r.conn.isUp() {
		if err := r.conn.sess.LastError(); isSecurityError(err) {
			return fmt.Errorf("core: registry %s: %w", r.conn.info.RPC, securityError(err))
		}
		if r.conn.down() {
			return r.unavailable(r.conn.sess.LastError())
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

func (r *RemoteRegistry) unavailable(cause error) error {
	if cause == nil {
		cause = errors.New("not connected")
	}
	return fmt.Errorf("%w: %s: %w", ErrRegistryUnavailable, r.conn.info.RPC, securityError(cause))
}

func (r *RemoteRegistry) call(ctx context.Context, service string, req any) ([]byte, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.callTimeout)
		defer cancel()
	}
	if err := r.ready(ctx); err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	reply, err := r.conn.call(ctx, time.Now(), deadline, service, body)
	var re *RemoteError
	switch {
	case err == nil:
		return reply, nil
	case asRemote(err, &re) && re.Code == codeNameTaken:
		return nil, fmt.Errorf("%w: %s", ErrNameTaken, re.Message)
	case asRemote(err, &re) && re.Code == codeNotOwner:
		return nil, fmt.Errorf("%w: %s", ErrNotOwner, re.Message)
	case asRemote(err, &re) && re.Code != CodeUnavailable && re.Code != CodeOverloaded:
		return nil, fmt.Errorf("core: registry %s: %w", r.conn.info.RPC, err)
	}
	return nil, r.unavailable(err)
}

// register sends req and keeps the token the reply carries.
func (r *RemoteRegistry) register(ctx context.Context, req registerRequest) error {
	reply, err := r.call(ctx, registryRegister, req)
	k := entryKey{req.Info.Name, req.Info.ID}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[k]; !ok {
		return err // deregistered meanwhile
	}
	var rep registerReply
	switch {
	case err == nil && json.Unmarshal(reply, &rep) == nil && rep.Token != "":
		req.Token = rep.Token
		r.entries[k] = req
	case err != nil && !errors.Is(err, ErrRegistryUnavailable):
		delete(r.entries, k) // refused: nothing to register again
	}
	return err
}

// Register implements Registry. The entry is remembered, and registered
// again after a reconnect, unless the registry refused it.
func (r *RemoteRegistry) Register(ctx context.Context, info NodeInfo, ttl time.Duration) error {
	k := entryKey{info.Name, info.ID}
	r.mu.Lock()
	req := registerRequest{Info: info, TTLSeconds: ttl.Seconds(), Token: r.entries[k].Token}
	r.entries[k] = req
	r.mu.Unlock()
	return r.register(ctx, req)
}

// Deregister implements Registry.
func (r *RemoteRegistry) Deregister(ctx context.Context, name, id string) error {
	k := entryKey{name, id}
	r.mu.Lock()
	token := r.entries[k].Token
	delete(r.entries, k)
	r.mu.Unlock()
	_, err := r.call(ctx, registryDeregister, deregisterRequest{Name: name, ID: id, Token: token})
	return err
}

// Nodes implements Registry.
func (r *RemoteRegistry) Nodes(ctx context.Context) ([]NodeInfo, error) {
	reply, err := r.call(ctx, registryNodes, struct{}{})
	if err != nil {
		return nil, err
	}
	var nodes []NodeInfo
	if err := json.Unmarshal(reply, &nodes); err != nil {
		return nil, fmt.Errorf("core: registry reply: %w", err)
	}
	return nodes, nil
}

// Close closes the connection to the registry node and waits for its
// goroutines.
func (r *RemoteRegistry) Close() error {
	r.mu.Lock()
	if !r.closed {
		close(r.done)
	}
	r.closed = true
	r.mu.Unlock()
	r.conn.close()
	r.wg.Wait()
	return nil
}
