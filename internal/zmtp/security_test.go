package zmtp

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/nacl/box"
)

// newKeyPair returns a fresh long-term CURVE key pair.
func newKeyPair(t testing.TB) (pub, sec Key) {
	t.Helper()
	p, s, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key(*p), Key(*s)
}

// secServer is a listener-like loop on 127.0.0.1:0: it takes one
// connection at a time, runs Handshake with cfg, echoes every message
// back until a read fails, closes the connection and reports what
// happened on outcomes. Serving one connection at a time keeps the
// outcomes in the order the test made its connections.
type secServer struct {
	ln       net.Listener
	cfg      Config
	timeout  time.Duration
	outcomes chan serverOutcome
	stop     chan struct{}
	done     chan struct{}

	mu  sync.Mutex
	cur net.Conn // the connection being served, closed by close
}

// serverOutcome is what the server saw of one connection.
type serverOutcome struct {
	hsErr   error    // Handshake's error
	auth    PeerAuth // after a successful handshake
	meta    Metadata
	msgs    [][][]byte // every message delivered by ReadMessage
	readErr error      // the error that ended the read loop
	took    time.Duration
}

func startSecServer(t *testing.T, cfg Config, timeout time.Duration) *secServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &secServer{
		ln: ln, cfg: cfg, timeout: timeout,
		outcomes: make(chan serverOutcome, 8),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.loop()
	t.Cleanup(s.close)
	return s
}

func (s *secServer) addr() string { return s.ln.Addr().String() }

func (s *secServer) loop() {
	defer close(s.done)
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.cur = nc
		s.mu.Unlock()
		o := s.serve(nc)
		select {
		case s.outcomes <- o:
		case <-s.stop:
			return
		}
	}
}

func (s *secServer) serve(nc net.Conn) serverOutcome {
	start := time.Now()
	c, err := Handshake(nc, s.cfg, start.Add(s.timeout))
	if err != nil {
		return serverOutcome{hsErr: err, took: time.Since(start)} // Handshake closed nc
	}
	defer c.Close()
	o := serverOutcome{auth: c.PeerAuth(), meta: c.PeerMetadata()}
	for {
		msg, err := c.ReadMessage()
		if err != nil {
			o.readErr = err
			return o
		}
		cp := make([][]byte, len(msg))
		for i, f := range msg {
			cp[i] = bytes.Clone(f)
		}
		o.msgs = append(o.msgs, cp)
		c.SetWriteTimeout(5 * time.Second)
		if c.WriteMessage(msg) == nil {
			c.Flush()
		}
	}
}

func (s *secServer) close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.ln.Close()
	s.mu.Lock()
	if s.cur != nil {
		s.cur.Close()
	}
	s.mu.Unlock()
	<-s.done
}

// next returns the outcome of the next connection the server served.
func (s *secServer) next(t *testing.T) serverOutcome {
	t.Helper()
	select {
	case o := <-s.outcomes:
		return o
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not finish with the connection")
		return serverOutcome{}
	}
}

// dial connects to the server and runs Handshake with cfg.
func (s *secServer) dial(t *testing.T, cfg Config) (*Conn, error) {
	t.Helper()
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Handshake(nc, cfg, time.Now().Add(10*time.Second))
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// checkGoodClient shows that the server still works: a client with cfg
// completes a handshake, its message comes back, and the server saw
// exactly that message.
func (s *secServer) checkGoodClient(t *testing.T, cfg Config) {
	t.Helper()
	c, err := s.dial(t, cfg)
	if err != nil {
		t.Fatalf("good client after the attack: %v (server: %v)", err, s.next(t).hsErr)
	}
	want := [][]byte{[]byte("good"), {}, bytes.Repeat([]byte{'g'}, 300)}
	if err := c.WriteMessage(want); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadMessage()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("good client: echo %q, %v", got, err)
	}
	c.Close()
	o := s.next(t)
	if o.hsErr != nil || len(o.msgs) != 1 {
		t.Fatalf("good client: server saw handshake error %v, %d messages", o.hsErr, len(o.msgs))
	}
}

// closedByPeer reads nc until the peer closes it and returns what came
// before. It fails the test when the peer keeps the connection open.
func closedByPeer(t *testing.T, nc net.Conn) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf bytes.Buffer
	_, err := io.Copy(&buf, nc)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the peer did not close the connection")
	}
	// nil is a clean EOF; a reset is a close with our bytes unread.
	return buf.Bytes()
}

// hasCommand reports whether wire holds a command frame named name.
func hasCommand(wire []byte, name string) bool {
	return bytes.Contains(wire, append([]byte{byte(len(name))}, name...))
}

// recConn records every byte written through it.
type recConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (r *recConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.out.Write(p)
	r.mu.Unlock()
	return r.Conn.Write(p)
}

func (r *recConn) written() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.out.Bytes())
}

// secPair runs a client and a server handshake on the two ends of a
// connection made by mk, recording the client's writes.
func secPair(t *testing.T, mk func(testing.TB) (net.Conn, net.Conn), client, server Config) (cc, sc *Conn, rec *recConn) {
	t.Helper()
	a, b := mk(t)
	rec = &recConn{Conn: a}
	deadline := time.Now().Add(10 * time.Second)
	ch := make(chan hsResult, 1)
	go func() {
		c, err := Handshake(b, server, deadline)
		ch <- hsResult{c, err}
	}()
	cc, err := Handshake(rec, client, deadline)
	r := <-ch
	t.Cleanup(func() {
		if cc != nil {
			cc.Close()
		}
		if r.c != nil {
			r.c.Close()
		}
	})
	if err != nil || r.err != nil {
		t.Fatalf("handshake: client %v, server %v", err, r.err)
	}
	return cc, r.c, rec
}

// unixPair returns the two ends of a unix-domain (ipc) connection.
func unixPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zmtp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	client, err = net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	if server == nil {
		client.Close()
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

var transports = []struct {
	name string
	mk   func(testing.TB) (net.Conn, net.Conn)
}{
	{"tcp", tcpPair},
	{"ipc", unixPair},
}

// authLog is an Authenticator that admits the requests allow accepts,
// with user id "user:<n>", and keeps every request.
type authLog struct {
	mu    sync.Mutex
	reqs  []AuthRequest
	allow func(AuthRequest) bool
}

func (a *authLog) Authenticate(r AuthRequest) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reqs = append(a.reqs, r)
	if !a.allow(r) {
		return "", errors.New("not on the list")
	}
	return fmt.Sprintf("user:%d", len(a.reqs)), nil
}

func (a *authLog) requests() []AuthRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuthRequest(nil), a.reqs...)
}

// secCase is a matching client/server pair of configurations.
type secCase struct {
	name           string
	client, server Security
	auth           *authLog // the server's, when it has one
	wantServer     PeerAuth // what the server reports of the client
	wantClient     PeerAuth
	encrypted      bool
}

func secCases(t *testing.T) []secCase {
	serverPub, serverSec := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	plainAuth := &authLog{allow: func(r AuthRequest) bool { return r.Username == "admin" && r.Password == "s3cret" }}
	curveAuth := &authLog{allow: func(r AuthRequest) bool { return r.ClientKey == clientPub }}
	nullAuth := &authLog{allow: func(AuthRequest) bool { return true }}
	curveClient := Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: serverPub}
	curveServer := Security{Mechanism: MechanismCurve, Server: true, PublicKey: serverPub, SecretKey: serverSec, Domain: "global"}
	curveServerAuth := curveServer
	curveServerAuth.Auth = curveAuth
	return []secCase{
		{
			name:       "NULL",
			wantServer: PeerAuth{Mechanism: MechanismNull}, wantClient: PeerAuth{Mechanism: MechanismNull},
		},
		{
			name:       "NULL with Authenticator",
			server:     Security{Mechanism: MechanismNull, Server: true, Auth: nullAuth, Domain: "d"},
			auth:       nullAuth,
			wantServer: PeerAuth{Mechanism: MechanismNull, UserID: "user:1"}, wantClient: PeerAuth{Mechanism: MechanismNull},
		},
		{
			name:       "PLAIN",
			client:     Security{Mechanism: MechanismPlain, Username: "admin", Password: "s3cret"},
			server:     Security{Mechanism: MechanismPlain, Server: true, Auth: plainAuth, Domain: "plain-domain"},
			auth:       plainAuth,
			wantServer: PeerAuth{Mechanism: MechanismPlain, UserID: "user:1"}, wantClient: PeerAuth{Mechanism: MechanismPlain},
		},
		{
			name:       "CURVE",
			client:     curveClient,
			server:     curveServerAuth,
			auth:       curveAuth,
			wantServer: PeerAuth{Mechanism: MechanismCurve, UserID: "user:1", ClientKey: clientPub}, wantClient: PeerAuth{Mechanism: MechanismCurve},
			encrypted: true,
		},
		{
			name:       "CURVE without Authenticator",
			client:     curveClient,
			server:     curveServer,
			wantServer: PeerAuth{Mechanism: MechanismCurve, ClientKey: clientPub}, wantClient: PeerAuth{Mechanism: MechanismCurve},
			encrypted: true,
		},
	}
}

// TestSecurityHandshakes runs every mechanism between two zmp ends and
// exchanges the full set of test messages both ways, PING/PONG and
// ZMTP 3.1 SUBSCRIBE/CANCEL commands.
func TestSecurityHandshakes(t *testing.T) {
	for _, tr := range transports {
		for _, tc := range secCases(t) {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				client := Config{Type: Dealer, Identity: []byte("cli"), Metadata: Metadata{"X-Side": "client"}, Security: tc.client}
				server := Config{Type: Router, Metadata: Metadata{"X-Side": "server"}, Security: tc.server}
				cc, sc, rec := secPair(t, tr.mk, client, server)

				if got := sc.PeerAuth(); got != tc.wantServer {
					t.Errorf("server PeerAuth = %+v, want %+v", got, tc.wantServer)
				}
				if got := cc.PeerAuth(); got != tc.wantClient {
					t.Errorf("client PeerAuth = %+v, want %+v", got, tc.wantClient)
				}
				if sc.PeerMetadata().Get("X-Side") != "client" || sc.PeerMetadata().Get("Identity") != "cli" || cc.PeerMetadata().Get("X-Side") != "server" {
					t.Errorf("metadata: server sees %v, client sees %v", sc.PeerMetadata(), cc.PeerMetadata())
				}
				if tc.auth != nil {
					checkAuthRequests(t, tc, tc.auth.requests(), cc)
				}
				if (cc.curve != nil) != tc.encrypted || (sc.curve != nil) != tc.encrypted {
					t.Fatalf("CURVE codec set on client %v, server %v; want %v", cc.curve != nil, sc.curve != nil, tc.encrypted)
				}

				exchange(t, cc, sc)
				exchange(t, sc, cc)
				pingBothWays(t, cc, sc)
				subscribeCommands(t, cc, sc)

				// The marker travels in clear text unless CURVE seals it.
				marker := []byte("plaintext-marker-7d1f")
				sendOne(t, cc, [][]byte{marker})
				if m, err := sc.ReadMessage(); err != nil || !bytes.Equal(m[0], marker) {
					t.Fatalf("marker: %q, %v", m, err)
				}
				if bytes.Contains(rec.written(), marker) == tc.encrypted {
					t.Fatalf("marker in the client's wire bytes: %v, encrypted %v", !tc.encrypted, tc.encrypted)
				}
			})
		}
	}
}

func checkAuthRequests(t *testing.T, tc secCase, reqs []AuthRequest, client *Conn) {
	t.Helper()
	if len(reqs) != 1 {
		t.Fatalf("Authenticator called %d times, want once", len(reqs))
	}
	r := reqs[0]
	want := AuthRequest{
		Mechanism: tc.wantServer.Mechanism, Domain: tc.server.Domain,
		Address:  r.Address, // checked below
		Username: tc.client.Username, Password: tc.client.Password,
		ClientKey: tc.wantServer.ClientKey,
	}
	if r != want {
		t.Errorf("AuthRequest = %+v, want %+v", r, want)
	}
	if la := client.nc.LocalAddr(); la != nil && la.Network() == "tcp" && r.Address != la.String() {
		t.Errorf("AuthRequest.Address = %q, the client is %s", r.Address, la)
	}
}

func sendOne(t *testing.T, c *Conn, msg [][]byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		err := c.WriteMessage(msg)
		if err == nil {
			err = c.Flush()
		}
		errc <- err
	}()
	// A write the peer never reads must not hold up the cleanup.
	t.Cleanup(func() { c.Close(); <-errc })
}

// pingBothWays sends a PING each way; the PONG is answered inside
// ReadMessage and absorbed by the pinger, which sees only messages.
func pingBothWays(t *testing.T, a, b *Conn) {
	t.Helper()
	for _, p := range [][2]*Conn{{a, b}, {b, a}} {
		pinger, ponger := p[0], p[1]
		done := make(chan error, 1)
		go func() {
			err := pinger.Ping(time.Second)
			if err == nil {
				err = pinger.WriteMessage([][]byte{[]byte("after-ping")})
			}
			if err == nil {
				err = pinger.Flush()
			}
			done <- err
		}()
		if m, err := ponger.ReadMessage(); err != nil || len(m) != 1 || string(m[0]) != "after-ping" {
			t.Fatalf("after PING: %q, %v", m, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		before := pinger.Received()
		sendOne(t, ponger, [][]byte{[]byte("after-pong")})
		if m, err := pinger.ReadMessage(); err != nil || len(m) != 1 || string(m[0]) != "after-pong" {
			t.Fatalf("after PONG: %q, %v", m, err)
		}
		if got := pinger.Received(); got < before+2 {
			t.Fatalf("Received went from %d to %d: the PONG was not read", before, got)
		}
	}
}

// subscribeCommands sends ZMTP 3.1 SUBSCRIBE and CANCEL commands the
// way libzmq 4.3 does; the receiver returns them in their 3.0 form.
func subscribeCommands(t *testing.T, from, to *Conn) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		from.wmu.Lock()
		defer from.wmu.Unlock()
		for _, cmd := range []Command{{CmdSubscribe, []byte("news.")}, {CmdCancel, []byte("news.")}, {CmdSubscribe, nil}} {
			if err := from.writeCommand(cmd); err != nil {
				done <- err
				return
			}
		}
		done <- from.flushLocked()
	}()
	for _, want := range []string{"\x01news.", "\x00news.", "\x01"} {
		m, err := to.ReadMessage()
		if err != nil || len(m) != 1 || string(m[0]) != want {
			t.Fatalf("got %q, %v; want %q", m, err, want)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestCurveCommandsTravelSealed checks on the wire that under CURVE a
// SUBSCRIBE command travels as a MESSAGE whose inner flags say command,
// and an application frame as one whose inner flags do not.
func TestCurveCommandsTravelSealed(t *testing.T) {
	tc := secCases(t)[4]
	cc, sc, rec := secPair(t, tcpPair, Config{Type: Sub, Security: tc.client}, Config{Type: Pub, Security: tc.server})
	start := len(rec.written())
	cc.wmu.Lock()
	err := cc.writeCommand(Command{Name: CmdSubscribe, Body: []byte("topic")})
	cc.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := cc.WriteMessage([][]byte{[]byte("a"), []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := cc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := sc.ReadMessage(); err != nil || string(m[0]) != "\x01topic" {
		t.Fatalf("SUBSCRIBE arrived as %q, %v", m, err)
	}
	if m, err := sc.ReadMessage(); err != nil || len(m) != 2 {
		t.Fatalf("message arrived as %q, %v", m, err)
	}

	// Decode the three MESSAGE commands the client wrote.
	wire := rec.written()[start:]
	shared := cc.curve.shared
	var last uint64 = 2 // INITIATE's
	want := []struct {
		frame         string
		more, command bool
	}{
		{"\x09SUBSCRIBEtopic", false, true},
		{"a", true, false},
		{"b", false, false},
	}
	for i, w := range want {
		if len(wire) < 2 || wire[0] != 0 {
			t.Fatalf("MESSAGE %d: outer flags % x, want a plain frame", i, wire[:min(len(wire), 2)])
		}
		size := int(wire[1])
		body := wire[2 : 2+size]
		wire = wire[2+size:]
		if string(body[:8]) != "\x07MESSAGE" {
			t.Fatalf("MESSAGE %d: starts %q", i, body[:8])
		}
		n := binary.BigEndian.Uint64(body[8:16])
		if n != last+1 {
			t.Fatalf("MESSAGE %d: nonce %d after %d", i, n, last)
		}
		last = n
		plain, ok := box.OpenAfterPrecomputation(nil, body[16:], shortNonce(prefixMsgC, n), &shared)
		if !ok {
			t.Fatalf("MESSAGE %d does not open", i)
		}
		frame, more, command := plain[1:], plain[0]&curveMore != 0, plain[0]&curveCommand != 0
		if plain[0]&^(curveMore|curveCommand) != 0 {
			t.Fatalf("MESSAGE %d: inner flags %#x", i, plain[0])
		}
		if string(frame) != w.frame || more != w.more || command != w.command {
			t.Fatalf("MESSAGE %d: %q more=%v command=%v, want %q more=%v command=%v", i, frame, more, command, w.frame, w.more, w.command)
		}
		// Only frames long enough not to appear in random ciphertext by chance.
		if len(w.frame) >= 8 && bytes.Contains(body, []byte(w.frame)) {
			t.Fatalf("MESSAGE %d carries its frame in clear text", i)
		}
	}
	if len(wire) != 0 {
		t.Fatalf("%d bytes after the three MESSAGE commands", len(wire))
	}
}

// TestCurveLargeFramesNearLimit checks that the size limit applies to
// the outer MESSAGE: a frame of MaxMessageSize minus CURVE's overhead
// passes, a bigger one is refused before it is read.
func TestCurveLargeFramesNearLimit(t *testing.T) {
	tc := secCases(t)[4]
	const limit = 200 << 10
	server := Config{Type: Router, MaxMessageSize: limit, Security: tc.server}
	cc, sc, _ := secPair(t, tcpPair, Config{Type: Dealer, Security: tc.client}, server)
	// Outer frame: "\x07MESSAGE", 8-byte nonce, box of flags + frame.
	const overhead = 8 + 8 + boxOverhead + 1
	fits := bytes.Repeat([]byte{'f'}, limit-frameOverhead-overhead)
	sendOne(t, cc, [][]byte{fits})
	if m, err := sc.ReadMessage(); err != nil || !bytes.Equal(m[0], fits) {
		t.Fatalf("frame at the limit: %d frames, %v", len(m), err)
	}
	sendOne(t, cc, [][]byte{append(fits, 'x')})
	if _, err := sc.ReadMessage(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("frame over the limit: %v, want ErrTooLarge", err)
	}
}

func TestSecurityValidate(t *testing.T) {
	pub, sec := newKeyPair(t)
	serverPub, _ := newKeyPair(t)
	auth := AuthFunc(func(AuthRequest) (string, error) { return "", nil })
	long := strings.Repeat("u", 256)
	tests := []struct {
		name string
		sec  Security
		ok   bool
	}{
		{"zero value is NULL", Security{}, true},
		{"NULL server", Security{Mechanism: MechanismNull, Server: true}, true},
		{"PLAIN client", Security{Mechanism: MechanismPlain, Username: "u", Password: "p"}, true},
		{"PLAIN client with empty credentials", Security{Mechanism: MechanismPlain}, true},
		{"PLAIN client with 255-byte credentials", Security{Mechanism: MechanismPlain, Username: long[:255], Password: long[:255]}, true},
		{"PLAIN client with 256-byte username", Security{Mechanism: MechanismPlain, Username: long}, false},
		{"PLAIN client with 256-byte password", Security{Mechanism: MechanismPlain, Password: long}, false},
		{"PLAIN server with Authenticator", Security{Mechanism: MechanismPlain, Server: true, Auth: auth}, true},
		{"PLAIN server without Authenticator", Security{Mechanism: MechanismPlain, Server: true}, false},
		{"CURVE client", Security{Mechanism: MechanismCurve, PublicKey: pub, SecretKey: sec, ServerKey: serverPub}, true},
		{"CURVE client with zero server key", Security{Mechanism: MechanismCurve, PublicKey: pub, SecretKey: sec}, false},
		{"CURVE client with zero public key", Security{Mechanism: MechanismCurve, SecretKey: sec, ServerKey: serverPub}, false},
		{"CURVE client with zero secret key", Security{Mechanism: MechanismCurve, PublicKey: pub, ServerKey: serverPub}, false},
		{"CURVE server", Security{Mechanism: MechanismCurve, Server: true, PublicKey: pub, SecretKey: sec}, true},
		{"CURVE server with zero keys", Security{Mechanism: MechanismCurve, Server: true}, false},
		{"CURVE server with zero secret key", Security{Mechanism: MechanismCurve, Server: true, PublicKey: pub}, false},
		{"unknown mechanism", Security{Mechanism: "GSSAPI"}, false},
		{"lower-case mechanism", Security{Mechanism: "curve"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.sec.validate()
			if (err == nil) != tt.ok {
				t.Fatalf("validate() = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok {
				return
			}
			// Handshake refuses the configuration before a byte is sent,
			// and closes the connection it was given.
			ours, peer := tcpPair(t)
			if _, err := Handshake(ours, Config{Type: Dealer, Security: tt.sec}, time.Now().Add(5*time.Second)); err == nil {
				t.Fatal("Handshake accepted the configuration")
			}
			if wire := closedByPeer(t, peer); len(wire) != 0 {
				t.Fatalf("Handshake wrote %d bytes with an invalid configuration", len(wire))
			}
		})
	}
}

// TestSecurityMismatches pairs a zmp client and a zmp server whose
// configurations do not match. The server must refuse with the right
// error, deliver nothing, close the connection, and still serve a good
// client afterwards.
func TestSecurityMismatches(t *testing.T) {
	serverPub, serverSec := newKeyPair(t)
	otherServerPub, _ := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	strangerPub, strangerSec := newKeyPair(t)
	curveAuth := AuthFunc(func(r AuthRequest) (string, error) {
		if r.ClientKey != clientPub {
			return "", errors.New("unknown key")
		}
		return "client", nil
	})
	plainAuth := AuthFunc(func(r AuthRequest) (string, error) {
		if r.Username != "admin" || r.Password != "s3cret" {
			return "", errors.New("bad password")
		}
		return "admin", nil
	})
	curveServer := Security{Mechanism: MechanismCurve, Server: true, PublicKey: serverPub, SecretKey: serverSec, Auth: curveAuth}
	plainServer := Security{Mechanism: MechanismPlain, Server: true, Auth: plainAuth}
	goodCurve := Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: serverPub}
	goodPlain := Security{Mechanism: MechanismPlain, Username: "admin", Password: "s3cret"}

	tests := []struct {
		name         string
		server, good Security
		client       Security
		wantServer   error
		wantClient   error // nil: any failure (the server hangs up without a word)
		wantERROR    bool  // the server told the client why
	}{
		{
			name:   "CURVE wrong server key",
			server: curveServer, good: goodCurve,
			client:     Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: otherServerPub},
			wantServer: ErrCrypto,
		},
		{
			name:   "CURVE unknown client key",
			server: curveServer, good: goodCurve,
			client:     Security{Mechanism: MechanismCurve, PublicKey: strangerPub, SecretKey: strangerSec, ServerKey: serverPub},
			wantServer: ErrDenied, wantClient: ErrDenied, wantERROR: true,
		},
		{
			name:   "CURVE client key pair that does not match",
			server: curveServer, good: goodCurve,
			client:     Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: strangerSec, ServerKey: serverPub},
			wantServer: ErrCrypto,
		},
		{
			name:   "NULL client against CURVE server",
			server: curveServer, good: goodCurve,
			client:     Security{},
			wantServer: ErrMechanism, wantClient: ErrMechanism, wantERROR: true,
		},
		{
			name:   "PLAIN client against CURVE server",
			server: curveServer, good: goodCurve,
			client:     goodPlain,
			wantServer: ErrMechanism, wantClient: ErrMechanism, wantERROR: true,
		},
		{
			name:   "CURVE client against PLAIN server",
			server: plainServer, good: goodPlain,
			client:     goodCurve,
			wantServer: ErrMechanism, wantClient: ErrMechanism, wantERROR: true,
		},
		{
			name:   "NULL client against PLAIN server",
			server: plainServer, good: goodPlain,
			client:     Security{},
			wantServer: ErrMechanism, wantClient: ErrMechanism, wantERROR: true,
		},
		{
			name:   "PLAIN wrong password",
			server: plainServer, good: goodPlain,
			client:     Security{Mechanism: MechanismPlain, Username: "admin", Password: "guess"},
			wantServer: ErrDenied, wantClient: ErrDenied, wantERROR: true,
		},
		{
			name:   "PLAIN unknown user",
			server: plainServer, good: goodPlain,
			client:     Security{Mechanism: MechanismPlain, Username: "root", Password: "s3cret"},
			wantServer: ErrDenied, wantClient: ErrDenied, wantERROR: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSecServer(t, Config{Type: Router, Security: tt.server}, 10*time.Second)
			nc, err := net.Dial("tcp", srv.addr())
			if err != nil {
				t.Fatal(err)
			}
			in := &readRec{Conn: nc}
			_, err = Handshake(in, Config{Type: Dealer, Security: tt.client}, time.Now().Add(10*time.Second))
			if err == nil {
				t.Fatal("the client's handshake succeeded")
			}
			if tt.wantClient != nil && !errors.Is(err, tt.wantClient) {
				t.Errorf("client: %v, want %v", err, tt.wantClient)
			}
			o := srv.next(t)
			if !errors.Is(o.hsErr, tt.wantServer) {
				t.Errorf("server: %v, want %v", o.hsErr, tt.wantServer)
			}
			if len(o.msgs) != 0 {
				t.Errorf("server delivered %d messages", len(o.msgs))
			}
			// On a mechanism mismatch the client stops reading after the
			// greeting, so whether it saw the ERROR is a race.
			if got := hasCommand(in.read(), CmdError); got != tt.wantERROR && tt.wantServer != ErrMechanism {
				t.Errorf("the server sent ERROR: %v, want %v", got, tt.wantERROR)
			}
			srv.checkGoodClient(t, Config{Type: Dealer, Security: tt.good})
		})
	}
}

// readRec records every byte read through it.
type readRec struct {
	net.Conn
	mu sync.Mutex
	in bytes.Buffer
}

func (r *readRec) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.in.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *readRec) read() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.in.Bytes())
}

// TestNullAuthenticatorRefuses: a NULL server with an Authenticator
// refuses with ErrDenied and tells the client with ERROR.
func TestNullAuthenticatorRefuses(t *testing.T) {
	refuse := true
	var mu sync.Mutex
	auth := AuthFunc(func(r AuthRequest) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return "", errors.New("closed today")
		}
		return "anyone", nil
	})
	srv := startSecServer(t, Config{Type: Router, Security: Security{Server: true, Auth: auth}}, 10*time.Second)
	_, err := srv.dial(t, Config{Type: Dealer})
	if !errors.Is(err, ErrPeerError) {
		t.Fatalf("client: %v, want ErrPeerError", err)
	}
	if o := srv.next(t); !errors.Is(o.hsErr, ErrDenied) {
		t.Fatalf("server: %v, want ErrDenied", o.hsErr)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	srv.checkGoodClient(t, Config{Type: Dealer})
}

// TestDeniedMeansAuthentication: a client reports ErrDenied when the
// server's Authenticator refused it, whatever the mechanism, and only
// then: an ERROR for another reason (here an incompatible socket type)
// is not a refusal of its credentials.
func TestDeniedMeansAuthentication(t *testing.T) {
	serverPub, serverSec := newKeyPair(t)
	clientPub, clientSec := newKeyPair(t)
	refuse := AuthFunc(func(AuthRequest) (string, error) { return "", errors.New("no") })
	admit := AuthFunc(func(AuthRequest) (string, error) { return "ok", nil })
	curve := func(auth Authenticator) (Security, Security) {
		return Security{Mechanism: MechanismCurve, PublicKey: clientPub, SecretKey: clientSec, ServerKey: serverPub},
			Security{Mechanism: MechanismCurve, Server: true, PublicKey: serverPub, SecretKey: serverSec, Auth: auth}
	}
	plain := func(auth Authenticator) (Security, Security) {
		return Security{Mechanism: MechanismPlain, Username: "u", Password: "p"},
			Security{Mechanism: MechanismPlain, Server: true, Auth: auth}
	}
	null := func(auth Authenticator) (Security, Security) {
		return Security{}, Security{Server: true, Auth: auth}
	}
	for _, m := range []struct {
		name string
		sec  func(Authenticator) (Security, Security)
	}{{"NULL", null}, {"PLAIN", plain}, {"CURVE", curve}} {
		t.Run(m.name+"/refused", func(t *testing.T) {
			client, server := m.sec(refuse)
			srv := startSecServer(t, Config{Type: Router, Security: server}, 10*time.Second)
			_, err := srv.dial(t, Config{Type: Dealer, Security: client})
			if !errors.Is(err, ErrDenied) {
				t.Errorf("client: %v, want ErrDenied", err)
			}
			if o := srv.next(t); !errors.Is(o.hsErr, ErrDenied) {
				t.Errorf("server: %v, want ErrDenied", o.hsErr)
			}
		})
		t.Run(m.name+"/incompatible", func(t *testing.T) {
			client, server := m.sec(admit)
			srv := startSecServer(t, Config{Type: Pub, Security: server}, 10*time.Second)
			_, err := srv.dial(t, Config{Type: Dealer, Security: client})
			if err == nil || errors.Is(err, ErrDenied) {
				t.Errorf("client: %v, want a failure other than ErrDenied", err)
			}
			if o := srv.next(t); !errors.Is(o.hsErr, ErrIncompatible) {
				t.Errorf("server: %v, want ErrIncompatible", o.hsErr)
			}
		})
	}
}
