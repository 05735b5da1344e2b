package systems

import (
	"context"
	"net"
	"net/rpc"
	"sync/atomic"
)

// netrpc: Go's net/rpc (gob encoding) over TCP, request/reply only.
// One client connection carries every concurrent call.

// Echo is the net/rpc service: it returns its argument.
type Echo struct{ served atomic.Uint64 }

// Echo replies with args.
func (e *Echo) Echo(args []byte, reply *[]byte) error {
	*reply = args
	e.served.Add(1)
	return nil
}

func netrpcSystem() *System {
	return &System{Name: "netrpc", RPC: true, NewEcho: newNetrpcEcho, DialEcho: dialNetrpcEcho}
}

type netrpcServer struct {
	ln    net.Listener
	conns connSet
	echo  *Echo
}

func newNetrpcEcho(_ context.Context, ep Endpoint) (Server, error) {
	srv := rpc.NewServer()
	echo := &Echo{}
	if err := srv.Register(echo); err != nil {
		return nil, err
	}
	ln, err := tcpListen(ep, "netrpc")
	if err != nil {
		return nil, err
	}
	s := &netrpcServer{ln: ln, echo: echo}
	// Its own accept loop: rpc.Server.Accept logs when the listener closes.
	s.conns.accept(ln, func(c net.Conn) { srv.ServeConn(c) })
	return s, nil
}

func (s *netrpcServer) Addr() string { return s.ln.Addr().String() }
func (s *netrpcServer) Close() error { return s.conns.close(s.ln) }
func (s *netrpcServer) Stats() map[string]float64 {
	return map[string]float64{"served": float64(s.echo.served.Load())}
}

type netrpcCaller struct{ c *rpc.Client }

func dialNetrpcEcho(_ context.Context, _ Endpoint, addr string) (Caller, error) {
	c, err := rpc.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &netrpcCaller{c: c}, nil
}

func (c *netrpcCaller) Run(ctx context.Context, n int, payload []byte, rec *Recorder) error {
	return parallel(ctx, n, func(context.Context) error {
		var reply []byte
		return c.c.Call("Echo.Echo", payload, &reply)
	}, rec)
}

func (c *netrpcCaller) Close() error { return c.c.Close() }
