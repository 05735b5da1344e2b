package proxy

import (
	"fmt"
	"time"
)

// Defaults of the options.
const (
	DefaultPeerQueue         = 1000
	DefaultPendingLimit      = 1000
	DefaultHeartbeat         = time.Second
	DefaultLiveness          = 3
	DefaultMaxRetries        = 3
	DefaultMaxServices       = 1024
	DefaultMaxSubscriptions  = 10000
	DefaultMinReconnect      = 50 * time.Millisecond
	DefaultMaxReconnect      = 2 * time.Second
	DefaultHandshakeTimeout  = 5 * time.Second
	defaultMaxEnvelopeFrames = 32
)

// kind is a bit set of the things an option applies to.
type kind uint8

const (
	kindForwarder kind = 1 << iota
	kindQueue
	kindBroker
	kindWorker
	kindClient

	kindProxies = kindForwarder | kindQueue | kindBroker
	kindAll     = kindProxies | kindWorker | kindClient
)

func (k kind) String() string {
	switch k {
	case kindForwarder:
		return "a Forwarder"
	case kindQueue:
		return "a Queue"
	case kindBroker:
		return "a Broker"
	case kindWorker:
		return "a Worker"
	case kindClient:
		return "a client"
	}
	return "this constructor"
}

// Option configures a Forwarder, Queue, Broker, Worker or client.
// Each option's documentation says which of them it applies to; giving
// it to another constructor is an error (ErrBadOption). Repeating an
// option replaces the earlier value.
type Option func(*config) error

type config struct {
	kinds []optionUse // the options given, to check they apply

	tap              string
	peerQueue        int
	pendingLimit     int
	maxMessageSize   int64
	handshakeTimeout time.Duration
	heartbeat        time.Duration
	liveness         int
	maxRetries       int
	failureReply     [][]byte
	cacheTopics      int
	maxServices      int
	maxSubscriptions int
	minReconnect     time.Duration
	maxReconnect     time.Duration
	connect          []string
	sec              sideSecurity
}

type optionUse struct {
	name  string
	kinds kind
}

func (c *config) use(name string, k kind) { c.kinds = append(c.kinds, optionUse{name, k}) }

// buildConfig applies opts for a constructor of kind k.
func buildConfig(k kind, opts []Option) (config, error) {
	c := config{
		peerQueue:        DefaultPeerQueue,
		pendingLimit:     DefaultPendingLimit,
		handshakeTimeout: DefaultHandshakeTimeout,
		heartbeat:        DefaultHeartbeat,
		liveness:         DefaultLiveness,
		maxRetries:       DefaultMaxRetries,
		maxServices:      DefaultMaxServices,
		maxSubscriptions: DefaultMaxSubscriptions,
		minReconnect:     DefaultMinReconnect,
		maxReconnect:     DefaultMaxReconnect,
	}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	for _, u := range c.kinds {
		if u.kinds&k == 0 {
			return config{}, fmt.Errorf("%w: %s does not apply to %v", ErrBadOption, u.name, k)
		}
	}
	return c, nil
}

// expiry is how long a peer may stay silent before it counts as dead.
func (c *config) expiry() time.Duration { return c.heartbeat * time.Duration(c.liveness) }

func positive(name string, n int) error {
	if n <= 0 {
		return fmt.Errorf("%w: %s must be positive, got %d", ErrBadOption, name, n)
	}
	return nil
}

// WithTap binds a PUB socket on endpoint that mirrors every message
// the proxy receives, prefixed by one frame naming the side it came
// from ("frontend" or "backend"); subscribe to "" for everything.
// Each tap subscriber has a bounded queue (WithPeerQueue) and loses
// messages when it is full, so a tap never slows the proxy. Default:
// no tap. Proxies only.
func WithTap(endpoint string) Option {
	return func(c *config) error {
		c.use("WithTap", kindProxies)
		c.tap = endpoint
		return nil
	}
}

// WithPeerQueue bounds the send queue of each connection (each
// subscriber, client, worker, publisher, tap subscriber). When it is
// full the message is dropped and counted in its side's Dropped; the
// proxy never waits for a slow peer. Default DefaultPeerQueue (1000).
// Proxies only.
func WithPeerQueue(n int) Option {
	return func(c *config) error {
		c.use("WithPeerQueue", kindProxies)
		c.peerQueue = n
		return positive("peer queue", n)
	}
}

// WithPendingLimit bounds the requests waiting for a worker: in total
// for a Queue, per service for a Broker; for a Forwarder, the
// publications held while it is paused. Past it, new input is refused
// (counted in Stats.Refused; a failure reply is sent when
// WithFailureReply is set). Default DefaultPendingLimit (1000).
// Proxies only.
func WithPendingLimit(n int) Option {
	return func(c *config) error {
		c.use("WithPendingLimit", kindProxies)
		c.pendingLimit = n
		return positive("pending limit", n)
	}
}

// WithMaxMessageSize bounds every incoming message (body bytes plus 32
// per frame); a peer that sends more is disconnected before the memory
// is allocated. Default 16 MiB. Applies to everything.
func WithMaxMessageSize(n int64) Option {
	return func(c *config) error {
		c.use("WithMaxMessageSize", kindAll)
		c.maxMessageSize = n
		if n <= 0 {
			return fmt.Errorf("%w: max message size must be positive, got %d", ErrBadOption, n)
		}
		return nil
	}
}

// WithHandshakeTimeout bounds each connection's ZMTP handshake.
// Default DefaultHandshakeTimeout (5 s). Applies to everything.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(c *config) error {
		c.use("WithHandshakeTimeout", kindAll)
		c.handshakeTimeout = d
		if d <= 0 {
			return fmt.Errorf("%w: handshake timeout must be positive, got %v", ErrBadOption, d)
		}
		return nil
	}
}

// WithHeartbeat sets the heartbeat interval and liveness: each side
// sends a heartbeat every interval and considers the other dead after
// liveness intervals without hearing from it. A hung or cut-off peer
// is found within interval × (liveness + 1); a crashed one at once
// (its connection closes). Both sides should use the same values.
// Default DefaultHeartbeat (1 s) and DefaultLiveness (3). Queue, Broker
// and workers.
func WithHeartbeat(interval time.Duration, liveness int) Option {
	return func(c *config) error {
		c.use("WithHeartbeat", kindQueue|kindBroker|kindWorker)
		c.heartbeat, c.liveness = interval, liveness
		if interval <= 0 {
			return fmt.Errorf("%w: heartbeat interval must be positive, got %v", ErrBadOption, interval)
		}
		return positive("liveness", liveness)
	}
}

// WithMaxRetries sets how many times a request whose worker died (or
// gave it back) is sent to another worker; after that it fails (see
// WithFailureReply). 0 never retries. Default DefaultMaxRetries (3).
// Queue and Broker.
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		c.use("WithMaxRetries", kindQueue|kindBroker)
		c.maxRetries = n
		if n < 0 {
			return fmt.Errorf("%w: max retries must be 0 or more, got %d", ErrBadOption, n)
		}
		return nil
	}
}

// WithFailureReply makes a Queue or Broker answer a request it gives
// up on (retries exhausted, refused because the pending queue is full
// or the proxy is draining) with these body frames, in the reply
// envelope of the request. By default such a request gets no answer
// and the client's own timeout applies (ZeroMQ REQ sockets have no
// error channel). Queue and Broker.
func WithFailureReply(body ...[]byte) Option {
	return func(c *config) error {
		c.use("WithFailureReply", kindQueue|kindBroker)
		if len(body) == 0 {
			return fmt.Errorf("%w: a failure reply needs at least one frame", ErrBadOption)
		}
		c.failureReply = body
		return nil
	}
}

// WithLastValueCache makes a Forwarder keep the latest message of up
// to maxTopics topics (the first frame is the topic) and send, to a
// subscriber that subscribes to a prefix, the cached message of every
// matching topic at once. To have every topic cached the forwarder
// then subscribes upstream to everything. When the cache is full the
// topic updated least recently is evicted. Default: no cache.
// Forwarder only.
func WithLastValueCache(maxTopics int) Option {
	return func(c *config) error {
		c.use("WithLastValueCache", kindForwarder)
		c.cacheTopics = maxTopics
		return positive("cache size", maxTopics)
	}
}

// WithConnect makes a Forwarder also dial these publisher endpoints
// (publishers that bind, such as zmp nodes' PUB sockets), reconnecting
// with backoff when a connection fails. Forwarder only.
func WithConnect(endpoints ...string) Option {
	return func(c *config) error {
		c.use("WithConnect", kindForwarder)
		c.connect = endpoints
		return nil
	}
}

// WithMaxSubscriptions bounds the distinct prefixes one subscriber may
// hold; more are ignored and counted as malformed. Default
// DefaultMaxSubscriptions (10000). Forwarder only.
func WithMaxSubscriptions(n int) Option {
	return func(c *config) error {
		c.use("WithMaxSubscriptions", kindForwarder)
		c.maxSubscriptions = n
		return positive("max subscriptions", n)
	}
}

// WithMaxServices bounds the services a Broker tracks at once; a READY
// or request for a new service past it is refused. Default
// DefaultMaxServices (1024). Broker only.
func WithMaxServices(n int) Option {
	return func(c *config) error {
		c.use("WithMaxServices", kindBroker)
		c.maxServices = n
		return positive("max services", n)
	}
}

// WithReconnect bounds the wait between reconnection attempts of a
// worker or client: it doubles from min to max and resets after a
// successful connect. Default DefaultMinReconnect (50 ms) to
// DefaultMaxReconnect (2 s). Workers and clients.
func WithReconnect(min, max time.Duration) Option {
	return func(c *config) error {
		c.use("WithReconnect", kindWorker|kindClient)
		c.minReconnect, c.maxReconnect = min, max
		if min <= 0 || max < min {
			return fmt.Errorf("%w: reconnect backoff %v..%v", ErrBadOption, min, max)
		}
		return nil
	}
}
