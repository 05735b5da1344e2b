package zmtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

// plainHello returns a PLAIN HELLO body for user and pass.
func plainHello(user, pass string) []byte {
	b := append([]byte{byte(len(user))}, user...)
	return append(append(b, byte(len(pass))), pass...)
}

// rawPeerRead reads one command frame off a raw peer.
func rawPeerRead(r *bufio.Reader) (Command, error) {
	h, err := readFrameHeader(r)
	if err != nil {
		return Command{}, err
	}
	body, err := readBody(r, h.size, nil)
	if err != nil {
		return Command{}, err
	}
	if !h.command {
		return Command{}, errors.New("message frame")
	}
	return ParseCommand(body)
}

// TestPlainServerRejects drives a PLAIN server with a raw client. The
// server must refuse with the right error, deliver nothing, close the
// connection and serve a good client afterwards.
func TestPlainServerRejects(t *testing.T) {
	auth := AuthFunc(func(r AuthRequest) (string, error) {
		if r.Username != "admin" || r.Password != "s3cret" {
			return "", errors.New("bad password")
		}
		return "admin", nil
	})
	server := Config{Type: Router, Security: Security{Mechanism: MechanismPlain, Server: true, Auth: auth}}
	good := Config{Type: Dealer, Security: Security{Mechanism: MechanismPlain, Username: "admin", Password: "s3cret"}}
	dealer := zmtptest.ReadyType("DEALER")[2+6:] // the READY body: metadata
	tests := []struct {
		name      string
		hello     []byte // the HELLO frame
		initiate  []byte // the INITIATE frame, when HELLO passes
		after     []byte // sent after READY
		want      error
		inRead    bool
		wantERROR string // reason the server gives, when it gives one
	}{
		{name: "HELLO empty", hello: zmtptest.Command(CmdHello, nil), want: ErrProtocol},
		{name: "HELLO truncated in the username", hello: zmtptest.Command(CmdHello, []byte("\x05adm")), want: ErrProtocol},
		{name: "HELLO without a password length", hello: zmtptest.Command(CmdHello, []byte("\x05admin")), want: ErrProtocol},
		{name: "HELLO password longer than announced", hello: zmtptest.Command(CmdHello, []byte("\x05admin\x05s3cret")), want: ErrProtocol},
		{name: "HELLO password shorter than announced", hello: zmtptest.Command(CmdHello, []byte("\x05admin\x07s3cret")), want: ErrProtocol},
		{name: "HELLO with trailing bytes", hello: zmtptest.Command(CmdHello, append(plainHello("admin", "s3cret"), 0)), want: ErrProtocol},
		{name: "HELLO username length 255 in a short body", hello: zmtptest.Command(CmdHello, []byte("\xffadmin\x06s3cret")), want: ErrProtocol},
		{name: "HELLO over 64 KiB", hello: zmtptest.Command(CmdHello, make([]byte, 70000)), want: ErrTooLarge},
		{name: "HELLO lower-case", hello: zmtptest.Command("hello", plainHello("admin", "s3cret")), want: ErrProtocol},
		{name: "message instead of HELLO", hello: zmtptest.Message(plainHello("admin", "s3cret")), want: ErrProtocol},
		{name: "INITIATE instead of HELLO", hello: zmtptest.Command(CmdInitiate, dealer), want: ErrProtocol},
		{name: "READY instead of HELLO", hello: zmtptest.ReadyType("DEALER"), want: ErrProtocol},
		{name: "wrong password", hello: zmtptest.Command(CmdHello, plainHello("admin", "guess")), want: ErrDenied, wantERROR: "400"},
		{name: "empty credentials", hello: zmtptest.Command(CmdHello, plainHello("", "")), want: ErrDenied, wantERROR: "400"},
		{name: "password sent as username", hello: zmtptest.Command(CmdHello, plainHello("s3cret", "admin")), want: ErrDenied, wantERROR: "400"},
		{name: "message instead of INITIATE", hello: zmtptest.Command(CmdHello, plainHello("admin", "s3cret")),
			initiate: zmtptest.Message([]byte("early")), want: ErrProtocol},
		{name: "READY instead of INITIATE", hello: zmtptest.Command(CmdHello, plainHello("admin", "s3cret")),
			initiate: zmtptest.ReadyType("DEALER"), want: ErrProtocol},
		{name: "INITIATE with truncated metadata", hello: zmtptest.Command(CmdHello, plainHello("admin", "s3cret")),
			initiate: zmtptest.Command(CmdInitiate, dealer[:len(dealer)-1]), want: ErrProtocol},
		{name: "INITIATE with incompatible socket type", hello: zmtptest.Command(CmdHello, plainHello("admin", "s3cret")),
			initiate: zmtptest.Command(CmdInitiate, zmtptest.ReadyType("PUB")[2+6:]), want: ErrIncompatible, wantERROR: "incompatible"},
		{name: "READY after the handshake", hello: zmtptest.Command(CmdHello, plainHello("admin", "s3cret")),
			initiate: zmtptest.Command(CmdInitiate, dealer), after: zmtptest.Command(CmdReady, dealer), want: ErrProtocol, inRead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSecServer(t, server, 10*time.Second)
			nc, err := net.Dial("tcp", srv.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(15 * time.Second))
			r := bufio.NewReader(nc)
			var got []Command
			func() {
				nc.Write(append(zmtptest.Greeting(MechanismPlain, 1, false), tt.hello...))
				var g [GreetingSize]byte
				if _, err := io.ReadFull(r, g[:]); err != nil {
					return
				}
				for _, step := range [][]byte{tt.initiate, tt.after} {
					cmd, err := rawPeerRead(r)
					if err != nil {
						return
					}
					got = append(got, cmd)
					if step == nil || cmd.Name == CmdError {
						return
					}
					nc.Write(step)
				}
			}()
			closedByPeer(t, nc)
			o := srv.next(t)
			err = o.hsErr
			if tt.inRead {
				if o.hsErr != nil {
					t.Fatalf("handshake: %v", o.hsErr)
				}
				err = o.readErr
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("server: %v, want %v", err, tt.want)
			}
			if len(o.msgs) != 0 {
				t.Fatalf("server delivered %q", o.msgs)
			}
			var reason string
			for _, c := range got {
				if c.Name == CmdError {
					reason = errorReason(c.Body)
				}
			}
			if tt.wantERROR == "" && reason != "" || !strings.HasPrefix(reason, tt.wantERROR) {
				t.Errorf("ERROR reason %q, want prefix %q", reason, tt.wantERROR)
			}
			srv.checkGoodClient(t, good)
		})
	}
}

// TestPlainCredentialsReachAuthenticator sends the longest and oddest
// credentials PLAIN allows; they reach the Authenticator byte for byte,
// and the client's HELLO is exactly RFC 24's encoding.
func TestPlainCredentialsReachAuthenticator(t *testing.T) {
	user := strings.Repeat("\x00u\xff", 85)
	pass := strings.Repeat("p", 255)
	var mu sync.Mutex
	var seen []AuthRequest
	auth := AuthFunc(func(r AuthRequest) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r)
		return "long", nil
	})
	client := Config{Type: Dealer, Security: Security{Mechanism: MechanismPlain, Username: user, Password: pass}}
	server := Config{Type: Router, Security: Security{Mechanism: MechanismPlain, Server: true, Auth: auth}}
	cc, sc, rec := secPair(t, tcpPair, client, server)
	defer cc.Close()
	if len(seen) != 1 || seen[0].Username != user || seen[0].Password != pass || seen[0].Mechanism != MechanismPlain {
		t.Fatalf("Authenticator saw %d requests: %+v", len(seen), seen)
	}
	if sc.PeerAuth().UserID != "long" {
		t.Fatalf("UserID %q", sc.PeerAuth().UserID)
	}
	wire := rec.written()[GreetingSize:]
	want := zmtptest.Command(CmdHello, plainHello(user, pass))
	if !bytes.HasPrefix(wire, want) {
		t.Fatalf("client's HELLO\n got % x\nwant % x", wire[:min(len(wire), len(want))], want)
	}
}

// TestPlainClientRejects feeds a PLAIN client bad server commands.
func TestPlainClientRejects(t *testing.T) {
	router := zmtptest.ReadyType("ROUTER")[2+6:]
	tests := []struct {
		name           string
		welcome, ready []byte
		want           error
	}{
		{"WELCOME with a body", zmtptest.Command(CmdWelcome, []byte{0}), nil, ErrProtocol},
		{"WELCOME with metadata", zmtptest.Command(CmdWelcome, router), nil, ErrProtocol},
		{"ERROR instead of WELCOME", zmtptest.Command(CmdError, []byte("\x03400")), nil, ErrDenied},
		{"READY instead of WELCOME", zmtptest.Command(CmdReady, router), nil, ErrProtocol},
		{"message instead of WELCOME", zmtptest.Message([]byte("hi")), nil, ErrProtocol},
		{"ERROR instead of READY", zmtptest.Command(CmdWelcome, nil), zmtptest.Command(CmdError, []byte("\x03400")), ErrDenied},
		{"READY with truncated metadata", zmtptest.Command(CmdWelcome, nil), zmtptest.Command(CmdReady, router[:3]), ErrProtocol},
		{"READY with incompatible type", zmtptest.Command(CmdWelcome, nil), zmtptest.ReadyType("PUB"), ErrIncompatible},
		{"WELCOME again instead of READY", zmtptest.Command(CmdWelcome, nil), zmtptest.Command(CmdWelcome, nil), ErrProtocol},
		{"good", zmtptest.Command(CmdWelcome, nil), zmtptest.Command(CmdReady, router), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Type: Dealer, Security: Security{Mechanism: MechanismPlain, Username: "admin", Password: "s3cret"}}
			peer, res := rawPeer(t, cfg, 10*time.Second)
			peer.SetDeadline(time.Now().Add(15 * time.Second))
			r := bufio.NewReader(peer)
			peer.Write(zmtptest.Greeting(MechanismPlain, 1, true))
			var g [GreetingSize]byte
			if _, err := io.ReadFull(r, g[:]); err != nil {
				t.Fatal(err)
			}
			hello, err := rawPeerRead(r)
			if err != nil || hello.Name != CmdHello || !bytes.Equal(hello.Body, plainHello("admin", "s3cret")) {
				t.Fatalf("client's HELLO: %q %q, %v", hello.Name, hello.Body, err)
			}
			peer.Write(tt.welcome)
			if tt.ready != nil {
				init, err := rawPeerRead(r)
				if err != nil || init.Name != CmdInitiate {
					t.Fatalf("client's INITIATE: %q, %v", init.Name, err)
				}
				if m, err := ParseMetadata(init.Body); err != nil || m.Get("Socket-Type") != "DEALER" {
					t.Fatalf("INITIATE metadata %v, %v", m, err)
				}
				peer.Write(tt.ready)
			}
			hr := <-res
			if tt.want == nil {
				if hr.err != nil {
					t.Fatal(hr.err)
				}
				if hr.c.PeerAuth() != (PeerAuth{Mechanism: MechanismPlain}) || hr.c.PeerType() != Router {
					t.Fatalf("PeerAuth %+v, type %q", hr.c.PeerAuth(), hr.c.PeerType())
				}
				return
			}
			if !errors.Is(hr.err, tt.want) {
				t.Fatalf("client: %v, want %v", hr.err, tt.want)
			}
			closedByPeer(t, peer)
		})
	}
}
