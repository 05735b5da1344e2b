package agent

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// Defaults of an Agent.
const (
	// DefaultBind is where an agent serves without WithBind: loopback,
	// a port the system chooses.
	DefaultBind = "tcp://127.0.0.1:0"
	// DefaultMaxNodes bounds the nodes one agent holds.
	DefaultMaxNodes = 64
	// DefaultMaxArgs and DefaultMaxArgBytes bound one node's arguments.
	DefaultMaxArgs     = 64
	DefaultMaxArgBytes = 16 << 10
	// DefaultLogLines, DefaultLogBytes and DefaultLogLineMax bound the
	// output kept of each node.
	DefaultLogLines   = 1000
	DefaultLogBytes   = 1 << 20
	DefaultLogLineMax = 8 << 10
	// DefaultStartTimeout bounds one start of a node.
	DefaultStartTimeout = 30 * time.Second
	// DefaultLogStreams bounds the agent.logs streams open at once, in
	// all and per caller connection.
	DefaultLogStreams        = 32
	DefaultLogStreamsPerConn = 4
	// DefaultLogIdle closes a logs stream whose caller has not asked
	// for more for this long (a caller that never reads).
	DefaultLogIdle = 30 * time.Second
)

// LabelAgent is the label every node placed by an agent carries, with
// the agent's name as its value: the registry says where each runs.
const LabelAgent = "zmp.agent"

// Option configures an Agent made by New.
type Option func(*config) error

type config struct {
	name         string
	labels       map[string]string
	bind         string
	nodeHost     string
	security     *core.Security
	insecure     bool
	peerOpts     []core.Option
	nodeOpts     []core.Option
	maxNodes     int
	maxArgs      int
	maxArgBytes  int
	logLines     int
	logBytes     int
	logLineMax   int
	startTimeout time.Duration
	shutdown     time.Duration
	supOpts      []supervise.Option
	logger       *slog.Logger
	logStreams   [2]int
	logIdle      time.Duration
}

func defaultConfig() config {
	return config{
		bind: DefaultBind, maxNodes: DefaultMaxNodes, maxArgs: DefaultMaxArgs, maxArgBytes: DefaultMaxArgBytes,
		logLines: DefaultLogLines, logBytes: DefaultLogBytes, logLineMax: DefaultLogLineMax,
		startTimeout: DefaultStartTimeout, logStreams: [2]int{DefaultLogStreams, DefaultLogStreamsPerConn},
		logIdle: DefaultLogIdle,
	}
}

// DefaultName is the name of an agent without WithName:
// "agent-<hostname>", the host name cut to what a node name may hold.
func DefaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host, _, _ = strings.Cut(host, ".")
	name := []byte("agent-")
	for i := 0; i < len(host) && len(name) < MaxNameLen; i++ {
		c := host[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			name = append(name, c)
		}
	}
	return string(name)
}

// WithName names the agent's node (in the registry). Default
// DefaultName(). It follows CheckName's rules.
func WithName(name string) Option {
	return func(c *config) error {
		if err := checkName(name); err != nil {
			return fmt.Errorf("%w: WithName: %v", ErrBadOption, err)
		}
		c.name = name
		return nil
	}
}

// WithLabels sets the agent's labels (core.CheckLabels' rules): its
// registry entry carries them, selectors (Client.Select) match them,
// and every node it places carries them too, with LabelAgent. Default
// none; a repeated option replaces.
func WithLabels(labels map[string]string) Option {
	return func(c *config) error {
		if err := core.CheckLabels(labels); err != nil {
			return fmt.Errorf("%w: WithLabels: %w", ErrBadOption, err)
		}
		if _, ok := labels[LabelAgent]; ok {
			return fmt.Errorf("%w: WithLabels: %s is set by the agent", ErrBadOption, LabelAgent)
		}
		c.labels = maps.Clone(labels)
		return nil
	}
}

// WithBind sets the agent's fixed RPC endpoint, "tcp://HOST:PORT" (port
// 0: one the system chooses). HOST must be an address other hosts
// reach it at, not a wildcard, unless the agent is for this host only.
// Default DefaultBind.
func WithBind(endpoint string) Option {
	return func(c *config) error {
		if _, err := bindHost(endpoint); err != nil {
			return err
		}
		c.bind = endpoint
		return nil
	}
}

// bindHost returns the address of a tcp:// endpoint.
func bindHost(endpoint string) (string, error) {
	rest, ok := strings.CutPrefix(endpoint, "tcp://")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i <= 0 {
		return "", fmt.Errorf("%w: bind %q: want tcp://HOST:PORT", ErrBadOption, endpoint)
	}
	host := strings.Trim(rest[:i], "[]")
	switch host {
	case "*", "0.0.0.0", "::":
		return "", fmt.Errorf("%w: bind %q: a wildcard address cannot be advertised; name the host's address", ErrBadOption, endpoint)
	}
	return host, nil
}

// isLoopback reports whether host is a loopback address or localhost.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// WithNodeHost sets the address the placed nodes bind their sockets
// to and advertise. Default: the bind address's host.
func WithNodeHost(host string) Option {
	return func(c *config) error {
		if host == "" {
			return fmt.Errorf("%w: WithNodeHost(\"\")", ErrBadOption)
		}
		c.nodeHost = host
		return nil
	}
}

// WithSecurity secures the agent and the nodes it places. Only CURVE
// is accepted: the agent then answers only the clients whose keys the
// Authenticator admits; one that admits any key (AllowAnyKey) is
// refused with ErrInsecure. The nodes get the same key pair and authenticator. Default:
// none, which needs WithInsecure.
func WithSecurity(s core.Security) Option {
	return func(c *config) error {
		if s.Mechanism() != "CURVE" {
			return fmt.Errorf("%w: WithSecurity: the agent takes CURVE only, not %s", ErrBadOption, s.Mechanism())
		}
		if admitsAnyKey(s.Authenticator()) {
			return fmt.Errorf("%w: WithSecurity: its Authenticator admits any client key (AllowAnyKey); name the keys", ErrInsecure)
		}
		c.security = &s
		return nil
	}
}

// admitsAnyKey reports whether auth admits a key no one was given: a
// fresh random one.
func admitsAnyKey(auth *core.Authenticator) bool {
	kp, err := core.GenerateKeyPair()
	return auth == nil || err != nil || auth.TrustsServer(kp.Public)
}

// WithInsecure(true) lets the agent run without security, answering
// anyone who reaches it, which is only allowed on a loopback bind
// address (New fails with ErrInsecure otherwise). Default false; it is
// an error with WithSecurity.
func WithInsecure(enabled bool) Option {
	return func(c *config) error {
		c.insecure = enabled
		return nil
	}
}

// WithPeerOptions gives the agent's own peer these options: the
// registry (core.WithRegistry, core.WithRegistryAddress; it must be
// one a child process can reach, a core.Addresser), the lease TTL,
// a logger… Not security (WithSecurity), endpoints or labels. The
// nodes get the peer's registry too. Default none; repeating adds.
func WithPeerOptions(opts ...core.Option) Option {
	return func(c *config) error {
		c.peerOpts = append(c.peerOpts, opts...)
		return nil
	}
}

// WithNodeOptions gives every placed node these options, after the
// agent's own (registry, security, host, labels, output): lease TTL,
// heartbeat, stop timeout… Default none; repeating adds.
func WithNodeOptions(opts ...core.Option) Option {
	return func(c *config) error {
		c.nodeOpts = append(c.nodeOpts, opts...)
		return nil
	}
}

// WithMaxNodes bounds the nodes the agent holds, in any state.
// Default DefaultMaxNodes.
func WithMaxNodes(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithMaxNodes(%d)", ErrBadOption, n)
		}
		c.maxNodes = n
		return nil
	}
}

// WithArgLimits bounds the arguments of one node: their number and
// their total size in bytes. Default DefaultMaxArgs and
// DefaultMaxArgBytes.
func WithArgLimits(maxArgs, maxBytes int) Option {
	return func(c *config) error {
		if maxArgs < 0 || maxBytes < 0 || maxBytes > MaxRequestBytes/2 {
			return fmt.Errorf("%w: WithArgLimits(%d, %d): need ≥ 0, bytes ≤ %d", ErrBadOption, maxArgs, maxBytes, MaxRequestBytes/2)
		}
		c.maxArgs, c.maxArgBytes = maxArgs, maxBytes
		return nil
	}
}

// WithLogLimits bounds the output kept of each node: lines, bytes, and
// the length of one line (longer ones are cut). Default
// DefaultLogLines, DefaultLogBytes, DefaultLogLineMax.
func WithLogLimits(lines, bytes, lineMax int) Option {
	return func(c *config) error {
		if lines <= 0 || bytes <= 0 || lineMax <= 0 || lineMax > bytes {
			return fmt.Errorf("%w: WithLogLimits(%d, %d, %d): need positive bounds, a line within the bytes", ErrBadOption, lines, bytes, lineMax)
		}
		c.logLines, c.logBytes, c.logLineMax = lines, bytes, lineMax
		return nil
	}
}

// WithLogStreams bounds the agent.logs streams open at once, in all and
// per caller connection, and closes a stream whose caller has asked
// for nothing for idle. Default DefaultLogStreams,
// DefaultLogStreamsPerConn, DefaultLogIdle.
func WithLogStreams(total, perConn int, idle time.Duration) Option {
	return func(c *config) error {
		if total <= 0 || perConn <= 0 || perConn > total || idle <= 0 {
			return fmt.Errorf("%w: WithLogStreams(%d, %d, %v)", ErrBadOption, total, perConn, idle)
		}
		c.logStreams, c.logIdle = [2]int{total, perConn}, idle
		return nil
	}
}

// WithStartTimeout bounds each start of a node. Default
// DefaultStartTimeout.
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithStartTimeout(%v)", ErrBadOption, d)
		}
		c.startTimeout = d
		return nil
	}
}

// WithShutdown sets how long a node is given to stop before it is
// killed (supervise.Spec.Shutdown). Default supervise.DefaultShutdown.
func WithShutdown(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithShutdown(%v)", ErrBadOption, d)
		}
		c.shutdown = d
		return nil
	}
}

// WithSupervisorOptions gives the supervisor of each node these
// options: supervise.WithIntensity, supervise.WithBackoff. Each node
// has a supervisor of its own, so a node that keeps failing reaches
// its own intensity (and is left failed) without stopping the others.
// Default: supervise's defaults; repeating adds.
func WithSupervisorOptions(opts ...supervise.Option) Option {
	return func(c *config) error {
		c.supOpts = append(c.supOpts, opts...)
		return nil
	}
}

// WithLogger sets where the agent logs its requests' effects and its
// supervisors log starts, exits and restarts. Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrBadOption)
		}
		c.logger = l
		return nil
	}
}

// buildConfig applies opts and checks the whole.
func buildConfig(opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil option", ErrBadOption)
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.name == "" {
		c.name = DefaultName()
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	host, err := bindHost(c.bind)
	if err != nil {
		return c, err
	}
	if c.nodeHost == "" {
		c.nodeHost = host
	}
	switch {
	case c.security != nil && c.insecure:
		return c, fmt.Errorf("%w: WithInsecure with WithSecurity", ErrBadOption)
	case c.security == nil && !c.insecure:
		return c, fmt.Errorf("%w: no CURVE security (WithSecurity); to run without it on this host only, use WithInsecure(true) and a loopback bind address", ErrInsecure)
	case c.security == nil && !isLoopback(host):
		return c, fmt.Errorf("%w: without CURVE the agent binds loopback addresses only, not %q", ErrInsecure, host)
	}
	return c, nil
}
