package systems

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gozmp/zmp/core"
)

// Registry and topics scale cases.

const (
	// zmpProviderName is the real provider a fresh caller looks for
	// among the registry's entries.
	zmpProviderName = "bench-provider"
	// zmpFillerTTL is the lease of the filler entries: longer than a run.
	zmpFillerTTL = 30 * time.Minute
	// zmpTopicPeriod is how often the topics node publishes on the
	// topic a fresh subscriber waits on: the resolution of its time to
	// a first message.
	zmpTopicPeriod = time.Millisecond
)

// ZmpRegistry is a registry holding n entries: n-1 filler entries of
// this process and one real echo provider.
type ZmpRegistry struct {
	addr     string
	server   *core.RegistryServer // registry node only
	client   *core.RemoteRegistry // registry node only: holds the fillers' entries
	provider *core.Peer
}

// NewZmpRegistry fills a registry for the registry scale cases: the
// directory registry in ep.Dir, or (node) a registry node on loopback
// TCP, served from this process as `zmptool registry` serves it.
func NewZmpRegistry(ctx context.Context, ep Endpoint, node bool, n int) (*ZmpRegistry, error) {
	z := &ZmpRegistry{}
	var reg core.Registry
	if node {
		var err error
		if z.server, err = core.NewRegistryServer(ctx, "tcp://127.0.0.1:0", nil); err != nil {
			return nil, err
		}
		z.addr = z.server.Address()
		if z.client, err = core.NewRemoteRegistry(z.addr); err != nil {
			z.Close()
			return nil, err
		}
		reg = z.client
	} else {
		d, err := core.NewDirRegistry(ep.Dir)
		if err != nil {
			return nil, err
		}
		reg, z.addr = d, d.Dir()
	}
	if err := fill(ctx, reg, n-1); err != nil {
		z.Close()
		return nil, err
	}
	p, err := core.NewPeer(ctx, zmpProviderName, core.WithRegistry(reg), core.WithRuntimeDir(ep.Dir))
	if err == nil {
		z.provider = p
		err = p.HandleFunc(zmpService, func(_ context.Context, r *core.Request) ([]byte, error) { return r.Body, nil })
	}
	if err != nil {
		z.Close()
		return nil, err
	}
	return z, nil
}

// fill registers n entries shaped like real nodes of this process: one
// service and one topic each, endpoints that nobody dials.
func fill(ctx context.Context, reg core.Registry, n int) error {
	host, _ := os.Hostname()
	started := time.Now()
	for i := range n {
		info := core.NodeInfo{
			Name: fmt.Sprintf("bench-node-%04d", i), ID: fmt.Sprintf("filler-%08d", i), PID: os.Getpid(), Host: host,
			RPC: fmt.Sprintf("tcp://127.0.0.1:%d", 20000+i), Pub: fmt.Sprintf("tcp://127.0.0.1:%d", 40000+i),
			Services: []string{fmt.Sprintf("svc-%04d", i)}, Topics: []string{fmt.Sprintf("topic-%04d", i)}, Started: started,
		}
		if err := reg.Register(ctx, info, zmpFillerTTL); err != nil {
			return fmt.Errorf("filler %d: %w", i, err)
		}
	}
	return nil
}

// Addr is the registry's address, as ZMP_REGISTRY or zmptool's
// --registry take it.
func (z *ZmpRegistry) Addr() string { return z.addr }

// Close closes the provider, then the registry.
func (z *ZmpRegistry) Close() error {
	var errs []error
	if z.provider != nil {
		errs = append(errs, z.provider.Close())
	}
	if z.client != nil {
		errs = append(errs, z.client.Close())
	}
	if z.server != nil {
		errs = append(errs, z.server.Close())
	}
	return errors.Join(errs...)
}

// ZmpFirstCall makes a fresh caller peer on the registry at addr, as a
// new process would (it opens its own registry client), and returns
// the time from NewPeer to the reply of its first echo call.
func ZmpFirstCall(ctx context.Context, addr, name string) (time.Duration, error) {
	start := time.Now()
	p, err := core.NewPeer(ctx, name, core.WithRegistryAddress(addr))
	if err != nil {
		return 0, err
	}
	_, err = p.Call(ctx, zmpService, []byte("first"))
	d := time.Since(start)
	return d, errors.Join(err, p.Close())
}

// ZmpTopicNode is one peer advertising many topics, publishing on the
// last of them.
type ZmpTopicNode struct {
	p     *core.Peer
	reg   core.Registry
	topic string
}

// NewZmpTopicNode makes the node, able to advertise n topics.
func NewZmpTopicNode(ctx context.Context, ep Endpoint, n int) (*ZmpTopicNode, error) {
	reg, err := core.NewDirRegistry(ep.Dir)
	if err != nil {
		return nil, err
	}
	p, err := core.NewPeer(ctx, zmpServerName, core.WithRegistry(reg), core.WithRuntimeDir(ep.Dir), core.WithMaxTopics(n+16))
	if err != nil {
		return nil, err
	}
	return &ZmpTopicNode{p: p, reg: reg}, nil
}

// PublishAll publishes one message on each of n topics, which
// advertises them in the background, and waits until the registry
// lists them all. It returns the time that took and the last topic.
func (t *ZmpTopicNode) PublishAll(ctx context.Context, n int) (time.Duration, string, error) {
	start := time.Now()
	for i := range n {
		t.topic = zmpTopicName(i)
		if err := t.p.Publish(t.topic, []byte("first")); err != nil {
			return 0, "", fmt.Errorf("topic %d: %w", i, err)
		}
	}
	for {
		info, err := core.Lookup(ctx, t.reg, zmpServerName)
		if err == nil && len(info.Topics) >= n {
			return time.Since(start), t.topic, nil
		}
		select {
		case <-ctx.Done():
			return 0, "", fmt.Errorf("the registry lists %d of %d topics: %w", len(info.Topics), n, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

func zmpTopicName(i int) string { return fmt.Sprintf("bench.topic.%05d", i) }

// ZmpAdvertiseAll makes a peer of its own on ep's directory registry
// and times one Advertise call given n topics.
func ZmpAdvertiseAll(ctx context.Context, ep Endpoint, n int) (time.Duration, error) {
	p, err := core.NewPeer(ctx, "bench-advertiser-all", core.WithRegistryAddress(ep.Dir), core.WithRuntimeDir(ep.Dir), core.WithMaxTopics(n+16))
	if err != nil {
		return 0, err
	}
	topics := make([]string, n)
	for i := range topics {
		topics[i] = zmpTopicName(i)
	}
	start := time.Now()
	err = p.Advertise(topics...)
	d := time.Since(start)
	return d, errors.Join(err, p.Close())
}

// ZmpAdvertiseEach makes a peer of its own on ep's directory registry
// and times n calls of Advertise, one topic each, as a program
// advertising its topics up front makes them.
func ZmpAdvertiseEach(ctx context.Context, ep Endpoint, n int) (time.Duration, error) {
	p, err := core.NewPeer(ctx, "bench-advertiser", core.WithRegistryAddress(ep.Dir), core.WithRuntimeDir(ep.Dir), core.WithMaxTopics(n+16))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range n {
		if err = p.Advertise(zmpTopicName(i)); err != nil {
			err = fmt.Errorf("topic %d: %w", i, err)
			break
		}
	}
	d := time.Since(start)
	return d, errors.Join(err, p.Close())
}

// Run publishes a small message on the last topic every millisecond
// until ctx ends.
func (t *ZmpTopicNode) Run(ctx context.Context) error {
	tick := time.NewTicker(zmpTopicPeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := t.p.Publish(t.topic, []byte("tick")); err != nil {
				return err
			}
		}
	}
}

// Close closes the node.
func (t *ZmpTopicNode) Close() error { return t.p.Close() }

// ZmpFirstMessage makes a fresh subscriber peer on ep's directory
// registry and returns the time from NewPeer to its first message on
// topic.
func ZmpFirstMessage(ctx context.Context, ep Endpoint, topic, name string) (time.Duration, error) {
	start := time.Now()
	p, err := core.NewPeer(ctx, name, core.WithRegistryAddress(ep.Dir), core.WithRuntimeDir(ep.Dir))
	if err != nil {
		return 0, err
	}
	sub, err := p.Subscribe(topic)
	if err == nil {
		select {
		case <-sub.C():
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	d := time.Since(start)
	return d, errors.Join(err, p.Close())
}
