package core

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// A call that never reached a provider says so (ErrNoProvider, or
// ErrNotSent when its connection went away under it); a call whose
// request went out does not, whatever ends it.
func TestErrNotSent(t *testing.T) {
	e := newTenv(t, TCP)
	cli := e.peer("notsent-cli")
	// A listener that accepts and never speaks: the call waits for a
	// handshake that does not come.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	nobody := At("tcp://" + ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err = cli.Call(ctx, "echo", nil, nobody); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("deadline while connecting: %v, want ErrNoProvider", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err = cli.Call(ctx, "echo", nil, nobody); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("cancelled while connecting: %v, want ErrNoProvider", err)
	}

	srv := e.peer("notsent-srv")
	started := make(chan struct{}, 2)
	if err := srv.HandleFunc("block", func(ctx context.Context, _ *Request) ([]byte, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	at := At(srv.Info().RPC)
	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err = cli.Call(ctx, "block", nil, at)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotSent) {
		t.Fatalf("cancelled while running: %v, want Canceled without ErrNotSent", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = cli.Call(ctx, "block", nil, at)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrNotSent) {
		t.Fatalf("deadline while running: %v, want ErrTimeout without ErrNotSent", err)
	}
}
