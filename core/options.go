package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Transport selects how a node's sockets are bound.
type Transport string

// Transports.
const (
	// TCP binds tcp://127.0.0.1:0 (or the host given by WithHost).
	TCP Transport = "tcp"
	// IPC binds Unix domain sockets in the runtime directory; only
	// nodes on the same host can reach them.
	IPC Transport = "ipc"
)

// Overflow is what a full bounded queue does with one more message.
type Overflow int

// Overflow policies.
const (
	// DropNewest refuses the new message and counts it as dropped.
	DropNewest Overflow = iota + 1
	// DropOldest discards the oldest queued message, counts it, and
	// queues the new one.
	DropOldest
)

func (o Overflow) sockPolicy() sock.Policy {
	if o == DropOldest {
		return sock.DropOldest
	}
	return sock.DropNewest
}

// Defaults of the options below.
const (
	DefaultMaxMessageSize    = zmtp.DefaultMaxMessageSize // 16 MiB
	DefaultCallTimeout       = 10 * time.Second
	DefaultHeartbeat         = 500 * time.Millisecond
	DefaultHeartbeatTimeout  = 2 * time.Second
	DefaultHandshakeTimeout  = sock.DefaultHandshakeTimeout // 5 s
	DefaultConcurrency       = 64
	DefaultRequestQueue      = 1024
	DefaultQueueLen          = sock.DefaultQueueLen   // 1000 messages
	DefaultQueueBytes        = sock.DefaultQueueBytes // 8 MiB
	DefaultWriteTimeout      = sock.DefaultWriteTimeout
	DefaultLeaseTTL          = 10 * time.Second
	DefaultDiscoveryInterval = 200 * time.Millisecond
	DefaultStopTimeout       = 5 * time.Second
	DefaultMaxTopics         = 1024
)

// config holds every option; Peer uses the network part, Node all of it.
type config struct {
	registry          Registry
	registryAddr      string // for ParseRegistry when registry is nil
	transport         Transport
	host              string
	rpcEndpoint       string
	pubEndpoint       string
	codec             Codec
	maxMessageSize    int64
	callTimeout       time.Duration
	heartbeat         time.Duration
	heartbeatTimeout  time.Duration
	handshakeTimeout  time.Duration
	concurrency       int
	requestQueue      int
	connHandlers      int // 0: three quarters of concurrency
	connQueue         int // 0: half of requestQueue
	queueBytes        int64
	writeTimeout      time.Duration
	maxTopics         int
	pubQueue          int
	pubOverflow       Overflow
	leaseTTL          time.Duration
	discoveryInterval time.Duration
	logger            *slog.Logger
	runtimeDir        string
	dial              sock.DialFunc
	security          Security
	balancer          Balancer
	retry             RetryPolicy
	serverIntercept   []ServerInterceptor
	callIntercept     []CallInterceptor
	labels            map[string]string // WithLabels; nil when none
	registryOpeners   map[string]RegistryOpener

	// node-only
	updateInterval time.Duration
	stopTimeout    time.Duration
	output         io.Writer
	inProcess      bool
	kindArgs       []string // WithKindArgs

	set optionSet // which options of limited scope were given
}

// optionSet names the options that apply to some constructors only.
type optionSet uint8

const (
	setUpdateInterval optionSet = 1 << iota
	setStopTimeout
	setOutput
	setInProcess
	setKindArgs
)

// nodeOnly are the options that only nodes take.
const nodeOnly = setUpdateInterval | setStopTimeout | setOutput | setInProcess | setKindArgs

// names lists the options in s, for error messages.
func (s optionSet) names() []string {
	var names []string
	for _, o := range []struct {
		bit  optionSet
		name string
	}{{setUpdateInterval, "WithUpdateInterval"}, {setStopTimeout, "WithStopTimeout"}, {setOutput, "WithOutput"}, {setInProcess, "WithInProcess"}, {setKindArgs, "WithKindArgs"}} {
		if s&o.bit != 0 {
			names = append(names, o.name)
		}
	}
	return names
}

// reject returns an error naming the options of s that were given to
// what, which does not take them.
func (c *config) reject(s optionSet, what string) error {
	if bad := c.set & s; bad != 0 {
		return fmt.Errorf("core: %s does not take %s", what, strings.Join(bad.names(), ", "))
	}
	return nil
}

func defaultConfig() config {
	return config{
		transport:         TCP,
		host:              "127.0.0.1",
		codec:             JSON{},
		maxMessageSize:    DefaultMaxMessageSize,
		callTimeout:       DefaultCallTimeout,
		heartbeat:         DefaultHeartbeat,
		heartbeatTimeout:  DefaultHeartbeatTimeout,
		handshakeTimeout:  DefaultHandshakeTimeout,
		concurrency:       DefaultConcurrency,
		requestQueue:      DefaultRequestQueue,
		queueBytes:        DefaultQueueBytes,
		writeTimeout:      DefaultWriteTimeout,
		maxTopics:         DefaultMaxTopics,
		pubQueue:          DefaultQueueLen,
		pubOverflow:       DropNewest,
		leaseTTL:          DefaultLeaseTTL,
		discoveryInterval: DefaultDiscoveryInterval,
		logger:            slog.New(slog.DiscardHandler),
		stopTimeout:       DefaultStopTimeout,
		balancer:          LeastOutstanding(),
		retry:             defaultRetry(),
	}
}

func buildConfig(opts []Option) (config, error) {
	c := defaultConfig()
	var errs []error
	for _, o := range opts {
		if err := o(&c); err != nil {
			errs = append(errs, err)
		}
	}
	if c.heartbeat > 0 && c.heartbeatTimeout <= c.heartbeat {
		errs = append(errs, fmt.Errorf("core: heartbeat timeout %v must exceed the interval %v", c.heartbeatTimeout, c.heartbeat))
	}
	if c.connHandlers == 0 {
		c.connHandlers = max(1, c.concurrency-c.concurrency/4)
	}
	if c.connQueue == 0 {
		c.connQueue = max(1, c.requestQueue/2)
	}
	return c, errors.Join(errs...)
}

// Option configures a Peer or a Node. Each option's comment gives its
// default; giving an option twice keeps the last value.
type Option func(*config) error

func positive[T ~int | ~int64](name string, v T) error {
	if v <= 0 {
		return fmt.Errorf("core: %s must be positive, got %v", name, v)
	}
	return nil
}

// WithRegistry sets the registry. Default: RegistryFromEnv, that is the
// directory registry in DefaultRegistryDir unless ZMP_REGISTRY says otherwise.
func WithRegistry(r Registry) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("core: WithRegistry(nil)")
		}
		c.registry = r
		return nil
	}
}

// WithRegistryAddress makes the peer open its own registry client for
// addr, as ParseRegistry reads it (a directory, or a registry node's
// "tcp://host:port[?key=Z85]"), with the peer's security, and close it
// with the peer. Default: ZMP_REGISTRY. WithRegistry wins over it.
func WithRegistryAddress(addr string) Option {
	return func(c *config) error {
		if addr == "" {
			return errors.New("core: WithRegistryAddress(\"\")")
		}
		c.registryAddr = addr
		return nil
	}
}

// WithTransport chooses TCP (default) or IPC for the sockets the node binds.
func WithTransport(t Transport) Option {
	return func(c *config) error {
		if t != TCP && t != IPC {
			return fmt.Errorf("core: unknown transport %q", t)
		}
		c.transport = t
		return nil
	}
}

// WithHost sets the address TCP sockets bind to. Default 127.0.0.1;
// use a routable address (or "*") to serve other hosts.
func WithHost(host string) Option {
	return func(c *config) error {
		if host == "" {
			return errors.New("core: WithHost(\"\")")
		}
		c.host = host
		return nil
	}
}

// WithEndpoints binds the RPC and pub sockets at the given endpoints
// (tcp://host:port or ipc://path) instead of ones chosen by the
// transport. An empty string keeps the default for that socket.
func WithEndpoints(rpc, pub string) Option {
	return func(c *config) error {
		for _, e := range []string{rpc, pub} {
			if e == "" {
				continue
			}
			if _, err := sock.ParseEndpoint(e); err != nil {
				return fmt.Errorf("core: %w", err)
			}
		}
		c.rpcEndpoint, c.pubEndpoint = rpc, pub
		return nil
	}
}

// WithCodec sets the codec of the typed helpers. Default JSON.
func WithCodec(codec Codec) Option {
	return func(c *config) error {
		if codec == nil {
			return errors.New("core: WithCodec(nil)")
		}
		c.codec = codec
		return nil
	}
}

// WithMaxMessageSize bounds every message sent or received, checked
// before memory is allocated. Default 16 MiB.
func WithMaxMessageSize(n int64) Option {
	return func(c *config) error {
		c.maxMessageSize = n
		return positive("max message size", n)
	}
}

// WithCallTimeout is the deadline given to calls whose context has
// none. Default 10 s.
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.callTimeout = d
		return positive("call timeout", d)
	}
}

// WithHeartbeat sets how often a caller pings each provider it is
// connected to and how long a silent provider is tolerated. A provider
// that dies without closing its connection is detected within
// interval+timeout. Default 500 ms and 2 s; an interval of 0 disables
// heartbeats (a crash that closes the socket is still seen at once).
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(c *config) error {
		if interval < 0 {
			return fmt.Errorf("core: heartbeat interval must not be negative, got %v", interval)
		}
		c.heartbeat, c.heartbeatTimeout = interval, timeout
		return nil
	}
}

// WithHandshakeTimeout bounds a connection's ZMTP handshake. A peer
// that connects and stays silent is dropped after it, without delaying
// other peers. Default 5 s.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.handshakeTimeout = d
		return positive("handshake timeout", d)
	}
}

// WithConcurrency bounds how many handlers of the peer's shared pool run
// at once (default 64) and how many requests wait for one beyond those
// a free handler takes at once (default 1024); a request beyond both is
// answered with CodeOverloaded. Waiting requests are run connection by
// connection in turn, so one caller's burst does not delay another
// caller by more than one request per busy connection. A service given
// limits of its own (Peer.SetServiceLimits) runs in a pool of its own
// instead.
func WithConcurrency(handlers, queue int) Option {
	return func(c *config) error {
		c.concurrency, c.requestQueue = handlers, queue
		return errors.Join(positive("concurrency", handlers), positive("request queue", queue))
	}
}

// WithConnectionShare bounds what one caller's connection may take of
// the handler pool: at most handlers of its requests run at once and
// at most queue of them wait (their bodies at most the WithQueueBytes
// bound, one request always being let in); its further requests are
// answered with CodeOverloaded. Defaults: three quarters of
// WithConcurrency's handlers and half of its queue, so that one
// connection can never hold every worker while others wait.
func WithConnectionShare(handlers, queue int) Option {
	return func(c *config) error {
		c.connHandlers, c.connQueue = handlers, queue
		return errors.Join(positive("handlers per connection", handlers), positive("queue per connection", queue))
	}
}

// WithQueueBytes bounds, in bytes, each connection's send queue (the
// replies queued to a caller, the messages queued to a subscriber, the
// requests queued to a provider) and the request bodies one caller's
// connection may have waiting for a handler; a message always fits
// into an empty queue. Default 8 MiB. A caller whose replies exceed it
// is not read from until they drain: replies never take more than this
// bound plus the replies of its requests already running.
func WithQueueBytes(n int64) Option {
	return func(c *config) error {
		c.queueBytes = n
		return positive("queue bytes", n)
	}
}

// WithWriteTimeout closes a connection whose peer takes none of the
// bytes written to it for d: a caller that stops reading its replies,
// a subscriber that stops reading its messages, a provider that hangs.
// A peer that reads slowly but steadily is never cut off. Default 5 s;
// a caller's connections to providers use the heartbeat timeout when
// heartbeats are on.
func WithWriteTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.writeTimeout = d
		return positive("write timeout", d)
	}
}

// WithMaxTopics bounds how many topics a peer advertises (explicitly,
// or by publishing on them). Default 1024. Unadvertise makes room.
func WithMaxTopics(n int) Option {
	return func(c *config) error {
		c.maxTopics = n
		return positive("max topics", n)
	}
}

// WithPublishQueue bounds the messages queued for each subscriber of
// this node's topics and sets what happens when that queue is full.
// Default 1000 messages, DropNewest. A publisher never blocks.
func WithPublishQueue(n int, policy Overflow) Option {
	return func(c *config) error {
		if policy != DropNewest && policy != DropOldest {
			return fmt.Errorf("core: unknown overflow policy %d", policy)
		}
		c.pubQueue, c.pubOverflow = n, policy
		return positive("publish queue", n)
	}
}

// WithLeaseTTL sets how long a registry entry lives without renewal;
// the node renews it every third of that. Default 10 s.
func WithLeaseTTL(d time.Duration) Option {
	return func(c *config) error {
		c.leaseTTL = d
		return positive("lease TTL", d)
	}
}

// WithDiscoveryInterval sets how often subscriptions re-read the
// registry for new publishers. Default 200 ms.
func WithDiscoveryInterval(d time.Duration) Option {
	return func(c *config) error {
		c.discoveryInterval = d
		return positive("discovery interval", d)
	}
}

// WithLogger sets the logger for connection errors, rejected peers and
// lifecycle events. Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("core: WithLogger(nil)")
		}
		c.logger = l
		return nil
	}
}

// WithRuntimeDir sets where IPC sockets are created. Default
// DefaultRegistryDir().
func WithRuntimeDir(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("core: WithRuntimeDir(\"\")")
		}
		c.runtimeDir = dir
		return nil
	}
}

// WithDialer makes the peer open its outgoing connections (to the
// services it calls and the topics it subscribes to) with dial instead
// of a net.Dialer: the seam for fault injection (see package coretest)
// and for custom networks. network is "tcp" or "unix". Not passed to
// child processes.
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) Option {
	return func(c *config) error {
		if dial == nil {
			return errors.New("core: WithDialer(nil)")
		}
		c.dial = dial
		return nil
	}
}

// WithUpdateInterval sets how often a node's Update function runs.
// Default 0: as often as it returns. Node only.
func WithUpdateInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("core: update interval must not be negative, got %v", d)
		}
		c.updateInterval = d
		c.set |= setUpdateInterval
		return nil
	}
}

// WithStopTimeout bounds a graceful stop when the context given to
// Stop has no deadline, and Close. After it a child process is killed.
// Default 5 s. Node only.
func WithStopTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.stopTimeout = d
		c.set |= setStopTimeout
		return positive("stop timeout", d)
	}
}

// WithOutput sets where a child process node's stdout and stderr go,
// each line prefixed with "[name] ". Default os.Stderr. Node only.
func WithOutput(w io.Writer) Option {
	return func(c *config) error {
		if w == nil {
			return errors.New("core: WithOutput(nil)")
		}
		c.output = w
		c.set |= setOutput
		return nil
	}
}

// WithInProcess runs a node made by a Launcher as goroutines of this
// process instead of a child process. Default false. Launcher nodes only.
func WithInProcess(enabled bool) Option {
	return func(c *config) error {
		c.inProcess = enabled
		c.set |= setInProcess
		return nil
	}
}

// WithLabels sets the node's labels: key/value pairs other nodes see
// in its registry entry (NodeInfo.Labels) and can select it by
// (NodeInfo.HasLabels, FromLabels). The rules for keys and values are
// those of CheckLabels; a label that breaks them is an error wrapping
// ErrBadLabel. The map is copied. Default none; giving the option
// again replaces the labels. Nodes and peers only (a Launcher passes
// them to its child processes).
func WithLabels(labels map[string]string) Option {
	return func(c *config) error {
		if err := CheckLabels(labels); err != nil {
			return err
		}
		c.labels = cloneLabels(labels)
		return nil
	}
}
