package sock

import (
	"errors"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in      string
		want    Endpoint
		str     string
		wantErr bool
	}{
		{in: "tcp://127.0.0.1:5555", want: Endpoint{"tcp", "127.0.0.1:5555"}, str: "tcp://127.0.0.1:5555"},
		{in: "tcp://localhost:0", want: Endpoint{"tcp", "localhost:0"}, str: "tcp://localhost:0"},
		{in: "tcp://*:5555", want: Endpoint{"tcp", ":5555"}, str: "tcp://:5555"},
		{in: "tcp://[::1]:7", want: Endpoint{"tcp", "[::1]:7"}, str: "tcp://[::1]:7"},
		{in: "tcp://:9", want: Endpoint{"tcp", ":9"}, str: "tcp://:9"},
		{in: "ipc:///tmp/x", want: Endpoint{"unix", "/tmp/x"}, str: "ipc:///tmp/x"},
		{in: "ipc://rel/sock", want: Endpoint{"unix", "rel/sock"}, str: "ipc://rel/sock"},
		{in: "udp://127.0.0.1:5555", wantErr: true},
		{in: "inproc://x", wantErr: true},
		{in: "http://host:80", wantErr: true},
		{in: "TCP://127.0.0.1:1", wantErr: true},
		{in: "tcp://127.0.0.1", wantErr: true},
		{in: "tcp://host", wantErr: true},
		{in: "tcp://", wantErr: true},
		{in: "ipc://", wantErr: true},
		{in: "127.0.0.1:5555", wantErr: true},
		{in: "", wantErr: true},
		{in: "tcp:/127.0.0.1:1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEndpoint(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadEndpoint) {
					t.Fatalf("ParseEndpoint(%q) = %+v, %v; want ErrBadEndpoint", tt.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEndpoint(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("ParseEndpoint(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Fatalf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

func TestListenBadEndpoint(t *testing.T) {
	if _, err := ListenRouter("udp://127.0.0.1:0", RouterConfig{}); !errors.Is(err, ErrBadEndpoint) {
		t.Fatalf("ListenRouter: %v", err)
	}
	if _, err := ListenPub("tcp://nope", PubConfig{}); !errors.Is(err, ErrBadEndpoint) {
		t.Fatalf("ListenPub: %v", err)
	}
}

func TestListenBoundEndpoint(t *testing.T) {
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{})
	e, err := ParseEndpoint(r.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	if e.Address == "127.0.0.1:0" {
		t.Fatalf("port 0 not resolved: %s", r.Endpoint())
	}
	// The same tcp endpoint cannot be bound twice.
	if _, err := ListenRouter(r.Endpoint(), RouterConfig{OnMessage: echo}); err == nil {
		t.Fatal("second listener on a bound port succeeded")
	}
}

func TestIPCSocketFile(t *testing.T) {
	ep := ipcEndpoint(t)
	r := startRouter(t, ep, RouterConfig{})
	// A live ipc endpoint is in use.
	if _, err := ListenRouter(ep, RouterConfig{OnMessage: echo}); err == nil {
		t.Fatal("second listener on a live ipc endpoint succeeded")
	}
	r.Close()
	// Close removed the socket; the endpoint can be bound again.
	r2 := startRouter(t, ep, RouterConfig{})
	if r2.Endpoint() != ep {
		t.Fatalf("endpoint %q, want %q", r2.Endpoint(), ep)
	}
}
