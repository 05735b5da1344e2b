package core

import (
	"encoding/json"
	"fmt"
	"time"
)

// envChild carries a childConfig to a re-executed child.
const envChild = "ZMP_CHILD_CONFIG"

// childConfig is the part of a node's configuration that crosses the
// process boundary.
type childConfig struct {
	Kind              string            `json:"kind"`
	Args              []string          `json:"args,omitempty"`
	Name              string            `json:"name"`
	Registry          string            `json:"registry,omitempty"`
	Transport         Transport         `json:"transport"`
	Host              string            `json:"host"`
	RPCEndpoint       string            `json:"rpc_endpoint,omitempty"`
	PubEndpoint       string            `json:"pub_endpoint,omitempty"`
	MaxMessageSize    int64             `json:"max_message_size"`
	CallTimeout       time.Duration     `json:"call_timeout"`
	Heartbeat         time.Duration     `json:"heartbeat"`
	HeartbeatTimeout  time.Duration     `json:"heartbeat_timeout"`
	HandshakeTimeout  time.Duration     `json:"handshake_timeout"`
	Concurrency       int               `json:"concurrency"`
	RequestQueue      int               `json:"request_queue"`
	ConnHandlers      int               `json:"conn_handlers"`
	ConnQueue         int               `json:"conn_queue"`
	QueueBytes        int64             `json:"queue_bytes"`
	WriteTimeout      time.Duration     `json:"write_timeout"`
	MaxTopics         int               `json:"max_topics"`
	PubQueue          int               `json:"pub_queue"`
	PubOverflow       Overflow          `json:"pub_overflow"`
	LeaseTTL          time.Duration     `json:"lease_ttl"`
	DiscoveryInterval time.Duration     `json:"discovery_interval"`
	UpdateInterval    time.Duration     `json:"update_interval"`
	StopTimeout       time.Duration     `json:"stop_timeout"`
	RuntimeDir        string            `json:"runtime_dir,omitempty"`
	Security          *securitySpec     `json:"security,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
}

// Addresser is implemented by registries that other processes can
// reach: Address is what ParseRegistry turns back into a client.
type Addresser interface {
	Address() string
}

// Address returns the registry directory.
func (r *DirRegistry) Address() string { return r.Dir() }

// Address returns the registry node's endpoint.
func (r *RemoteRegistry) Address() string {
	if k := r.conn.info.Key; k != "" {
		return r.conn.info.RPC + "?key=" + k
	}
	return r.conn.info.RPC
}

func newChildConfig(kind, name string, c config) (childConfig, error) {
	cc := childConfig{
		Kind: kind, Args: c.kindArgs, Name: name, Transport: c.transport, Host: c.host,
		RPCEndpoint: c.rpcEndpoint, PubEndpoint: c.pubEndpoint,
		MaxMessageSize: c.maxMessageSize, CallTimeout: c.callTimeout,
		Heartbeat: c.heartbeat, HeartbeatTimeout: c.heartbeatTimeout, HandshakeTimeout: c.handshakeTimeout,
		Concurrency: c.concurrency, RequestQueue: c.requestQueue, PubQueue: c.pubQueue, PubOverflow: c.pubOverflow,
		ConnHandlers: c.connHandlers, ConnQueue: c.connQueue, QueueBytes: c.queueBytes, WriteTimeout: c.writeTimeout,
		MaxTopics: c.maxTopics, Registry: c.registryAddr,
		LeaseTTL: c.leaseTTL, DiscoveryInterval: c.discoveryInterval, UpdateInterval: c.updateInterval,
		StopTimeout: c.stopTimeout, RuntimeDir: c.runtimeDir,
		Security: newSecuritySpec(c.security),
		Labels:   cloneLabels(c.labels),
	}
	if c.registry != nil {
		a, ok := c.registry.(Addresser)
		if !ok {
			return cc, fmt.Errorf("core: a %T cannot be shared with a child process; use a DirRegistry or a registry node", c.registry)
		}
		cc.Registry = a.Address()
	}
	return cc, nil
}

func (cc childConfig) encode() string {
	b, _ := json.Marshal(cc)
	return string(b)
}

// options rebuilds the node's options in the child.
func (cc childConfig) options() ([]Option, error) {
	opts := []Option{
		WithTransport(cc.Transport), WithHost(cc.Host), WithEndpoints(cc.RPCEndpoint, cc.PubEndpoint),
		WithMaxMessageSize(cc.MaxMessageSize), WithCallTimeout(cc.CallTimeout),
		WithHeartbeat(cc.Heartbeat, cc.HeartbeatTimeout), WithHandshakeTimeout(cc.HandshakeTimeout),
		WithConcurrency(cc.Concurrency, cc.RequestQueue), WithPublishQueue(cc.PubQueue, cc.PubOverflow),
		WithConnectionShare(cc.ConnHandlers, cc.ConnQueue), WithQueueBytes(cc.QueueBytes),
		WithWriteTimeout(cc.WriteTimeout), WithMaxTopics(cc.MaxTopics),
		WithLeaseTTL(cc.LeaseTTL), WithDiscoveryInterval(cc.DiscoveryInterval),
		WithUpdateInterval(cc.UpdateInterval), WithStopTimeout(cc.StopTimeout),
	}
	if cc.Labels != nil {
		opts = append(opts, WithLabels(cc.Labels))
	}
	if cc.RuntimeDir != "" {
		opts = append(opts, WithRuntimeDir(cc.RuntimeDir))
	}
	if cc.Registry != "" {
		opts = append(opts, func(c *config) error { c.registryAddr = cc.Registry; return nil })
	}
	if cc.Security != nil {
		o, err := cc.Security.option()
		if err != nil {
			return nil, err
		}
		opts = append(opts, o)
	}
	return opts, nil
}
