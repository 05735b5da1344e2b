package core

import (
	"context"
	"encoding/json"
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
)

// RegistryServer is a registry node: a peer whose RPC endpoint serves a
// Registry to nodes on any host that point at it (ZMP_REGISTRY=tcp://…).
//
// Entries are bound to the connection they were registered over: when
// it closes (the node's process died, or the node was cut off long
// enough for its heartbeats to fail) they are removed at once, without
// waiting for the lease. A node that is still alive registers again
// when its registry client reconnects.
type RegistryServer struct {
	peer *Peer
	reg  Registry

	mu    sync.Mutex
	owner map[entryKey]*sock.Link // the connection that last registered each entry
}

type entryKey struct{ name, id string }

// NewRegistryServer serves backing (a new MemRegistry when nil) on
// endpoint, e.g. tcp://0.0.0.0:5550. The server's own peer is listed in
// backing under the name "zmp-registry".
func NewRegistryServer(ctx context.Context, endpoint string, backing Registry, opts ...Option) (*RegistryServer, error) {
	if backing == nil {
		backing = NewMemRegistry()
	}
	opts = append(opts, WithRegistry(backing), WithEndpoints(endpoint, ""))
	p, err := NewPeer(ctx, "zmp-registry", opts...)
	if err != nil {
		return nil, err
	}
	s := &RegistryServer{peer: p, reg: backing, owner: map[entryKey]*sock.Link{}}
	p.srv.watchPeers(s.connectionClosed)
	p.srv.add(registryRegister, HandlerFunc(s.register))
	p.srv.add(registryDeregister, HandlerFunc(s.deregister))
	p.srv.add(registryNodes, HandlerFunc(s.nodes))
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

// Close stops serving.
func (s *RegistryServer) Close() error { return s.peer.Close() }

type registerRequest struct {
	Info       NodeInfo `json:"info"`
	TTLSeconds float64  `json:"ttl_seconds"`
}

type deregisterRequest struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

func (s *RegistryServer) register(ctx context.Context, r *Request) ([]byte, error) {
	var req registerRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return nil, NewError(CodeBadRequest, "%v", err)
	}
	ttl := time.Duration(req.TTLSeconds * float64(time.Second))
	if err := s.reg.Register(ctx, req.Info, ttl); err != nil {
		return nil, remoteRegistryError(err)
	}
	s.mu.Lock()
	s.owner[entryKey{req.Info.Name, req.Info.ID}] = r.conn
	s.mu.Unlock()
	return nil, nil
}

// connectionClosed removes the entries last registered over l.
func (s *RegistryServer) connectionClosed(l *sock.Link) {
	s.mu.Lock()
	var gone []entryKey
	for k, owner := range s.owner {
		if owner == l {
			gone = append(gone, k)
			delete(s.owner, k)
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, k := range gone {
		s.reg.Deregister(ctx, k.name, k.id)
	}
}

func (s *RegistryServer) deregister(ctx context.Context, r *Request) ([]byte, error) {
	var req deregisterRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return nil, NewError(CodeBadRequest, "%v", err)
	}
	s.mu.Lock()
	delete(s.owner, entryKey{req.Name, req.ID})
	s.mu.Unlock()
	return nil, remoteRegistryError(s.reg.Deregister(ctx, req.Name, req.ID))
}

func (s *RegistryServer) nodes(ctx context.Context, _ *Request) ([]byte, error) {
	nodes, err := s.reg.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	return json.Marshal(nodes)
}

// codeNameTaken is the application code a registry node uses for ErrNameTaken.
const codeNameTaken Code = 100

func remoteRegistryError(err error) error {
	if err != nil && isNameTaken(err) {
		return NewError(codeNameTaken, "%v", err)
	}
	return err
}

// RemoteRegistry is the client of a registry node. After a reconnect
// (a network blip, or the registry node restarted) it registers its
// live entries again at once instead of waiting for their renewal.
type RemoteRegistry struct {
	cfg  config
	conn *providerConn

	mu      sync.Mutex
	entries map[entryKey]registerRequest
	closed  bool
	wg      sync.WaitGroup
}

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
	r := &RemoteRegistry{cfg: cfg, entries: map[entryKey]registerRequest{}}
	n := NodeInfo{Name: "zmp-registry", RPC: endpoint, Key: key}
	r.conn = newProviderConn(&r.cfg, "", n, connHooks{reconnected: r.reconnected})
	return r, nil
}

func (r *RemoteRegistry) reconnected() {
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
		r.call(ctx, registryRegister, req)
		cancel()
	}
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
	deadline, _ := ctx.Deadline()
	reply, err := r.conn.call(ctx, deadline, service, body)
	if err != nil {
		var re *RemoteError
		if asRemote(err, &re) && re.Code == codeNameTaken {
			return nil, fmt.Errorf("%w: %s", ErrNameTaken, re.Message)
		}
		return nil, fmt.Errorf("core: registry %s: %w", r.conn.info.RPC, err)
	}
	return reply, nil
}

// Register implements Registry.
func (r *RemoteRegistry) Register(ctx context.Context, info NodeInfo, ttl time.Duration) error {
	req := registerRequest{Info: info, TTLSeconds: ttl.Seconds()}
	if _, err := r.call(ctx, registryRegister, req); err != nil {
		return err
	}
	r.mu.Lock()
	r.entries[entryKey{info.Name, info.ID}] = req
	r.mu.Unlock()
	return nil
}

// Deregister implements Registry.
func (r *RemoteRegistry) Deregister(ctx context.Context, name, id string) error {
	r.mu.Lock()
	delete(r.entries, entryKey{name, id})
	r.mu.Unlock()
	_, err := r.call(ctx, registryDeregister, deregisterRequest{Name: name, ID: id})
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
	r.closed = true
	r.mu.Unlock()
	r.conn.close()
	r.wg.Wait()
	return nil
}
