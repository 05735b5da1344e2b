package core

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Services of a registry node.
const (
	registryRegister   = "zmp.registry.register"
	registryDeregister = "zmp.registry.deregister"
	registryNodes      = "zmp.registry.nodes"
)

// RegistryServer is a registry node: a peer whose RPC endpoint serves a
// Registry to nodes on any host that point at it (ZMP_REGISTRY=tcp://…).
type RegistryServer struct {
	peer *Peer
	reg  Registry
}

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
	s := &RegistryServer{peer: p, reg: backing}
	p.srv.add(registryRegister, HandlerFunc(s.register))
	p.srv.add(registryDeregister, HandlerFunc(s.deregister))
	p.srv.add(registryNodes, HandlerFunc(s.nodes))
	return s, nil
}

// Endpoint returns where the registry is served.
func (s *RegistryServer) Endpoint() string { return s.peer.Info().RPC }

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
	return nil, remoteRegistryError(s.reg.Register(ctx, req.Info, ttl))
}

func (s *RegistryServer) deregister(ctx context.Context, r *Request) ([]byte, error) {
	var req deregisterRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		return nil, NewError(CodeBadRequest, "%v", err)
	}
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

// RemoteRegistry is the client of a registry node.
type RemoteRegistry struct {
	cfg  config
	conn *providerConn
}

// NewRemoteRegistry returns a client for the registry node at endpoint.
// It connects in the background and reconnects after failures.
func NewRemoteRegistry(endpoint string, opts ...Option) (*RemoteRegistry, error) {
	cfg, err := buildConfig(append([]Option{WithEndpoints(endpoint, "")}, opts...))
	if err != nil {
		return nil, err
	}
	n := NodeInfo{Name: "zmp-registry", RPC: endpoint}
	return &RemoteRegistry{cfg: cfg, conn: newProviderConn(&cfg, "", n)}, nil
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
	reply, err := r.conn.call(ctx, service, body)
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
	_, err := r.call(ctx, registryRegister, registerRequest{Info: info, TTLSeconds: ttl.Seconds()})
	return err
}

// Deregister implements Registry.
func (r *RemoteRegistry) Deregister(ctx context.Context, name, id string) error {
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

// Close closes the connection to the registry node.
func (r *RemoteRegistry) Close() error {
	r.conn.close()
	return nil
}
