package zmtp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxMessageSize is the limit used when Config.MaxMessageSize is 0.
const DefaultMaxMessageSize = 16 << 20

// bufferSize is the size of the read and write buffers of a Conn.
const bufferSize = 64 << 10

// SocketType is the ZMTP Socket-Type property.
type SocketType string

// Socket types zmp speaks or accepts as peers.
const (
	Router SocketType = "ROUTER"
	Dealer SocketType = "DEALER"
	Req    SocketType = "REQ"
	Rep    SocketType = "REP"
	Pub    SocketType = "PUB"
	Sub    SocketType = "SUB"
	XPub   SocketType = "XPUB"
	XSub   SocketType = "XSUB"
)

var compatible = map[SocketType][]SocketType{
	Router: {Dealer, Req, Router},
	Dealer: {Router, Rep, Dealer},
	Pub:    {Sub, XSub},
	Sub:    {Pub, XPub},
	XPub:   {Sub, XSub},
	XSub:   {Pub, XPub},
}

// Compatible reports whether a socket of type local may talk to remote.
func Compatible(local, remote SocketType) bool {
	for _, t := range compatible[local] {
		if t == remote {
			return true
		}
	}
	return false
}

// Config describes the local end of a connection.
type Config struct {
	// Type is announced in READY and checked against the peer's.
	Type SocketType
	// Identity is announced as the Identity property when non-empty.
	Identity []byte
	// Metadata holds extra properties; names should start with "X-".
	Metadata Metadata
	// MaxMessageSize bounds every incoming message, counted as its
	// body bytes plus 32 per frame. 0 means DefaultMaxMessageSize.
	MaxMessageSize int64
	// Security selects the mechanism; the zero value is NULL.
	Security Security
}

// Conn is an established ZMTP connection.
type Conn struct {
	nc       net.Conn
	r        *bufio.Reader
	maxSize  uint64
	peer     Greeting
	peerMeta Metadata

	wmu  sync.Mutex
	w    *bufio.Writer
	nw   *netWriter // under w
	hdr  []byte
	werr error

	curve *curveCodec // set once a CURVE handshake is through
	auth  PeerAuth
	rerr  error // first read error; ReadMessage returns it from then on

	received atomic.Uint64 // frames (and chunks of large frames) read
	remote   string        // RemoteAddr().String(), computed once
	arena    []byte        // backing store for small incoming frames
}

// Handshake exchanges greetings and READY commands on nc, which it
// owns from then on: on error nc is closed. The whole exchange must
// finish before deadline.
func Handshake(nc net.Conn, cfg Config, deadline time.Time) (*Conn, error) {
	c, err := handshake(nc, cfg, deadline)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func handshake(nc net.Conn, cfg Config, deadline time.Time) (*Conn, error) {
	if cfg.Type == "" {
		return nil, errors.New("zmtp: Config.Type is required")
	}
	if err := cfg.Security.validate(); err != nil {
		return nil, err
	}
	max := cfg.MaxMessageSize
	if max <= 0 {
		max = DefaultMaxMessageSize
	}
	c := &Conn{
		nc:      nc,
		r:       bufio.NewReaderSize(nc, bufferSize),
		nw:      newNetWriter(nc),
		maxSize: uint64(max),
	}
	c.w = bufio.NewWriterSize(c.nw, bufferSize)
	if err := nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if err := c.exchangeGreetings(cfg.Security); err != nil {
		return nil, err
	}
	c.auth = PeerAuth{Mechanism: cfg.Security.mechanism()} // servers add what Authenticate says
	if err := c.runMechanism(cfg); err != nil {
		return nil, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	c.remote = remoteAddr(nc)
	if uc, ok := nc.(*net.UnixConn); ok {
		uc.SetWriteBuffer(unixSendBuffer) // best effort: the system may cap it
	}
	return c, nil
}

// unixSendBuffer is the send buffer a Unix-domain connection asks for.
// On such a socket the sender's buffer alone bounds the bytes on their
// way to the peer, and its usual default (208 KiB) is about 50 messages
// of 4 KiB: the writer and the reader would take turns every few
// messages. TCP on loopback grows its buffers by itself.
const unixSendBuffer = 1 << 20

func remoteAddr(nc net.Conn) string {
	if ra := nc.RemoteAddr(); ra != nil {
		return ra.String()
	}
	return ""
}

// runMechanism runs the security handshake that follows the greeting
// and ends with both sides' metadata exchanged.
func (c *Conn) runMechanism(cfg Config) error {
	sec := cfg.Security
	switch {
	case sec.mechanism() == MechanismNull:
		if sec.Server {
			if err := c.authenticate(sec, AuthRequest{}); err != nil {
				return err
			}
		}
		return c.exchangeReady(cfg)
	case sec.mechanism() == MechanismPlain && sec.Server:
		return c.plainServer(cfg)
	case sec.mechanism() == MechanismPlain:
		return c.plainClient(cfg)
	case sec.Server:
		return c.curveServer(cfg)
	default:
		return c.curveClient(cfg)
	}
}

func (c *Conn) exchangeGreetings(sec Security) error {
	mech := sec.mechanism()
	asServer := sec.Server && mech != MechanismNull
	g, err := Greeting{Major: versionMajor, Minor: versionMinor, Mechanism: mech, AsServer: asServer}.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := c.w.Write(g); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var b [GreetingSize]byte
	if _, err := io.ReadFull(c.r, b[:]); err != nil {
		return fmt.Errorf("zmtp: reading greeting: %w", unexpectedEOF(err))
	}
	peer, err := ParseGreeting(b[:])
	if err != nil {
		return err
	}
	if peer.Mechanism != mech {
		c.sendError("unsupported security mechanism")
		return fmt.Errorf("%w: peer wants %s, we run %s", ErrMechanism, peer.Mechanism, mech)
	}
	// libzmq 4.3 always sends as-server = 0, so a peer's 0 proves
	// nothing and roles come from configuration. A 1 from a peer when
	// we are the server too is a sure mismatch: say so now rather than
	// both waiting for a HELLO until the deadline. Two clients fail at
	// the first command.
	if asServer && peer.AsServer {
		c.sendError("both ends are servers")
		return fmt.Errorf("%w: both ends are %s servers", ErrMechanism, mech)
	}
	c.peer = peer
	return nil
}

// exchangeReady is the NULL mechanism: both sides send READY.
func (c *Conn) exchangeReady(cfg Config) error {
	body, err := readyMetadata(cfg)
	if err != nil {
		return err
	}
	if err := c.writeHandshake(CmdReady, body); err != nil {
		return err
	}
	peer, err := c.expectCommand(CmdReady)
	if err != nil {
		return err
	}
	return c.acceptPeerMetadata(cfg, peer)
}

// readyMetadata encodes the properties this side announces.
func readyMetadata(cfg Config) ([]byte, error) {
	props := Metadata{"Socket-Type": string(cfg.Type)}
	for k, v := range cfg.Metadata {
		props[k] = v
	}
	if len(cfg.Identity) > 0 {
		props["Identity"] = string(cfg.Identity)
	}
	return props.MarshalBinary()
}

// acceptPeerMetadata decodes the peer's properties and checks its
// socket type against ours.
func (c *Conn) acceptPeerMetadata(cfg Config, body []byte) error {
	meta, err := ParseMetadata(body)
	if err != nil {
		return err
	}
	peerType := SocketType(meta.Get("Socket-Type"))
	if !Compatible(cfg.Type, peerType) {
		c.sendError("incompatible socket type")
		return fmt.Errorf("%w: %s cannot talk to %q", ErrIncompatible, cfg.Type, peerType)
	}
	c.peerMeta = meta
	return nil
}

// writeHandshake sends one handshake command at once.
func (c *Conn) writeHandshake(name string, body []byte) error {
	if err := c.writeCommand(Command{Name: name, Body: body}); err != nil {
		return err
	}
	return c.w.Flush()
}

// expectCommand reads the next handshake command, which must be name;
// an ERROR from the peer is returned as ErrPeerError.
func (c *Conn) expectCommand(name string) ([]byte, error) {
	cmd, err := c.readHandshakeCommand()
	if err != nil {
		return nil, err
	}
	switch cmd.Name {
	case name:
		return cmd.Body, nil
	case CmdError:
		return nil, handshakeError(errorReason(cmd.Body))
	}
	return nil, fmt.Errorf("%w: expected %s, got %q", ErrProtocol, name, cmd.Name)
}

func (c *Conn) readHandshakeCommand() (Command, error) {
	h, err := readFrameHeader(c.r)
	if err != nil {
		return Command{}, fmt.Errorf("zmtp: reading handshake command: %w", unexpectedEOF(err))
	}
	if !h.command {
		return Command{}, fmt.Errorf("%w: message frame during handshake", ErrProtocol)
	}
	if h.size > min(c.maxSize, maxHandshakeCommand) {
		return Command{}, fmt.Errorf("%w: handshake command of %d bytes", ErrTooLarge, h.size)
	}
	body, err := readBody(c.r, h.size, nil)
	if err != nil {
		return Command{}, err
	}
	return ParseCommand(body)
}

// maxHandshakeCommand bounds READY and ERROR during the handshake.
const maxHandshakeCommand = 64 << 10

func (c *Conn) sendError(reason string) {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	body := append([]byte{byte(len(reason))}, reason...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeCommand(Command{Name: CmdError, Body: body}) == nil {
		c.w.Flush()
	}
}

func errorReason(body []byte) string {
	if len(body) == 0 || int(body[0]) > len(body)-1 {
		return "(malformed ERROR)"
	}
	return string(body[1 : 1+int(body[0])])
}

// PeerMinor is the minor ZMTP version the peer announced; 1 or more
// means it understands PING and PONG.
func (c *Conn) PeerMinor() byte { return c.peer.Minor }

// PeerMetadata returns the properties from the peer's READY.
func (c *Conn) PeerMetadata() Metadata { return c.peerMeta }

// PeerType returns the peer's Socket-Type.
func (c *Conn) PeerType() SocketType { return SocketType(c.peerMeta.Get("Socket-Type")) }

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// RemoteAddrString returns RemoteAddr().String(), computed once.
func (c *Conn) RemoteAddrString() string { return c.remote }

// Received counts the frames read from the peer, commands included, and
// the chunks of large frames as they arrive: a heartbeat checker sees
// traffic as a change of this count, without reading the clock on
// every frame.
func (c *Conn) Received() uint64 { return c.received.Load() }

func (c *Conn) touch() { c.received.Add(1) }

// Small frames that are not the last of their message (delimiters,
// headers, service and topic names: what a receiver parses and lets go)
// are carved out of a shared arena: one allocation serves many
// messages. The last frame, the body a receiver may keep, always has
// memory of its own, so keeping it pins nothing else. A frame's
// capacity is its length, so appending to it never writes into its
// neighbours.
const (
	arenaSize     = 16 << 10
	arenaMaxFrame = 512
)

func (c *Conn) readFrameBody(n uint64, more bool) ([]byte, error) {
	if n == 0 || n > arenaMaxFrame || (!more && c.curve == nil) {
		return readBody(c.r, n, c.touch)
	}
	if uint64(len(c.arena)) < n {
		c.arena = make([]byte, arenaSize)
	}
	b := c.arena[:n:n]
	c.arena = c.arena[n:]
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, unexpectedEOF(err)
	}
	return b, nil
}

// Close closes the underlying connection, unblocking any reader or writer.
func (c *Conn) Close() error { return c.nc.Close() }

// ReadMessage returns the next message. PING is answered and PONG
// absorbed here; ZMTP 3.1 SUBSCRIBE and CANCEL commands are returned
// in their ZMTP 3.0 form, a single frame starting 0x01 or 0x00, so that
// callers handle one form. Other commands are ignored. It must not be
// called concurrently with itself.
func (c *Conn) ReadMessage() ([][]byte, error) {
	return c.ReadMessageInto(nil)
}

// MessageBuffered reports whether a whole message (or command) has
// been read from the network and not yet returned: if not, the next
// ReadMessage may wait for the network. It looks at the buffered bytes
// only. Under CURVE, where a frame's MORE flag is sealed, it always
// reports false: a caller that batches delivery until the input runs
// dry then delivers after every message.
func (c *Conn) MessageBuffered() bool {
	if c.curve != nil {
		return false
	}
	buf, _ := c.r.Peek(c.r.Buffered())
	return wholeMessage(buf)
}

// ReadMessageInto is ReadMessage for a caller that reuses one slice of
// frames from message to message: the frames are appended to dst[:0]
// (a nil dst gets a new slice). Only the slice is reused; the frames
// are new for every message, as with ReadMessage.
func (c *Conn) ReadMessageInto(dst [][]byte) ([][]byte, error) {
	if c.rerr != nil {
		return nil, c.rerr
	}
	msg, err := c.readMessage(dst[:0])
	if err != nil {
		c.rerr = err // the stream position is lost: every later read fails too
	}
	return msg, err
}

func (c *Conn) readMessage(frames [][]byte) ([][]byte, error) {
	var total uint64
	if frames == nil {
		frames = make([][]byte, 0, 4)
	}
	for {
		h, err := readFrameHeader(c.r)
		if err != nil {
			if len(frames) > 0 {
				err = unexpectedEOF(err)
			}
			return nil, err
		}
		total += h.size + frameOverhead
		if h.size > c.maxSize || total > c.maxSize {
			return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, total, c.maxSize)
		}
		body, err := c.readFrameBody(h.size, h.more)
		if err != nil {
			return nil, err
		}
		c.touch()
		if c.curve != nil {
			if body, h.more, h.command, err = c.curve.open(body); err != nil {
				return nil, err
			}
		}
		if h.command {
			if len(frames) > 0 {
				return nil, fmt.Errorf("%w: command inside a multipart message", ErrProtocol)
			}
			msg, err := c.handleCommand(body)
			if err != nil || msg != nil {
				return msg, err
			}
			total = 0
			continue
		}
		frames = append(frames, body)
		if !h.more {
			return frames, nil
		}
	}
}

func (c *Conn) handleCommand(frame []byte) ([][]byte, error) {
	cmd, err := ParseCommand(frame)
	if err != nil {
		return nil, err
	}
	switch cmd.Name {
	case CmdPing:
		return nil, c.pong(cmd.Body)
	case CmdSubscribe:
		return [][]byte{append([]byte{1}, cmd.Body...)}, nil
	case CmdCancel:
		return [][]byte{append([]byte{0}, cmd.Body...)}, nil
	case CmdError:
		return nil, fmt.Errorf("%w: %s", ErrPeerError, errorReason(cmd.Body))
	case CmdReady:
		return nil, fmt.Errorf("%w: second READY", ErrProtocol)
	}
	return nil, nil // PONG and unknown commands
}

func (c *Conn) pong(ping []byte) error {
	if len(ping) < 2 {
		return fmt.Errorf("%w: PING of %d bytes", ErrProtocol, len(ping))
	}
	ctx := ping[2:]
	if len(ctx) > 16 {
		return fmt.Errorf("%w: PING context of %d bytes", ErrProtocol, len(ctx))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeCommand(Command{Name: CmdPong, Body: ctx}); err != nil {
		return err
	}
	return c.flushLocked()
}

// Ping sends a PING asking the peer to consider us gone after ttl
// without traffic, and flushes it.
func (c *Conn) Ping(ttl time.Duration) error {
	body := binary.BigEndian.AppendUint16(nil, uint16(min(ttl/(100*time.Millisecond), 0xffff)))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeCommand(Command{Name: CmdPing, Body: body}); err != nil {
		return err
	}
	return c.flushLocked()
}

// WriteMessage buffers one message; call Flush to send it. It is safe
// for concurrent use. The frames are copied before it returns.
func (c *Conn) WriteMessage(frames [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeMessageLocked(frames)
}

// WriteMessages buffers msgs in order, as WriteMessage does each of
// them, under one acquisition of the write lock; call Flush to send
// them. The frames are copied before it returns.
func (c *Conn) WriteMessages(msgs [][][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, m := range msgs {
		if err := c.writeMessageLocked(m); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) writeMessageLocked(frames [][]byte) error {
	if c.werr != nil {
		return c.werr
	}
	for i, f := range frames {
		if err := c.writeFrame(f, i < len(frames)-1, false); err != nil {
			c.werr = err
			return err
		}
	}
	return nil
}

// writeFrame buffers one frame; under CURVE it goes sealed in a
// MESSAGE command, whose outer frame carries no flags (as libzmq sends it).
func (c *Conn) writeFrame(f []byte, more, command bool) error {
	if c.curve != nil {
		f = c.curve.seal(f, more, command)
		more, command = false, false
	}
	c.hdr = appendFrameHeader(c.hdr[:0], len(f), more, command)
	if _, err := c.w.Write(c.hdr); err != nil {
		return err
	}
	_, err := c.w.Write(f)
	return err
}

// Flush writes buffered messages to the network.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

// SetWriteTimeout bounds every write that flushing does (Flush, Ping,
// the PONG that ReadMessage sends): a write fails, and so does every
// later one, once the peer has taken nothing for d, however long the
// whole message. 0, the default after the handshake, means no bound.
func (c *Conn) SetWriteTimeout(d time.Duration) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nw.timeout = d
}

// WriteMessageNow writes one message and flushes it, together with
// whatever was buffered, without waiting for a peer that does not
// read: what the socket does not take at once (within a couple of
// milliseconds) is kept, in order, and written by the next Flush.
// pending reports that such bytes are waiting for a Flush. The frames
// are copied before it returns.
func (c *Conn) WriteMessageNow(frames [][]byte) (pending bool, err error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nw.try = true
	defer func() { c.nw.try = false }()
	if err := c.writeMessageLocked(frames); err != nil {
		return false, err
	}
	if err := c.w.Flush(); err != nil {
		c.werr = err
		return false, err
	}
	return c.nw.pending(), nil
}

// Pending reports whether bytes kept by WriteMessageNow wait for a Flush.
func (c *Conn) Pending() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.nw.pending()
}

func (c *Conn) flushLocked() error {
	if c.werr != nil {
		return c.werr
	}
	if err := c.w.Flush(); err != nil {
		c.werr = err
		return err
	}
	if err := c.nw.drain(); err != nil { // bufio was empty: nothing drained it
		c.werr = err
		return err
	}
	return nil
}

func (c *Conn) writeCommand(cmd Command) error {
	return c.writeFrame(cmd.appendTo(nil), false, true)
}
