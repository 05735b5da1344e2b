package core

import (
	"context"
	"testing"
	"time"
)

func mustTestLauncher() *Launcher {
	l, err := NewLauncher(WithArgs("-test.run=^$"), WithNodeOptions(WithRegistryOpener(testDirScheme, openTestDir)))
	if err != nil {
		panic(err)
	}
	if err := registerTestKinds(l); err != nil {
		panic(err)
	}
	return l
}

type addReq struct{ A, B int }

func TestSmokeAdd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := NewDirRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewPeer(ctx, "calc", WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := Provide(srv, "add", func(ctx context.Context, r addReq) (int, error) { return r.A + r.B, nil }); err != nil {
		t.Fatal(err)
	}
	cli, err := NewPeer(ctx, "", WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	got, err := Call[int](ctx, cli, "add", addReq{17, 25})
	if err != nil || got != 42 {
		t.Fatalf("add = %v, %v", got, err)
	}
	sub, err := cli.Subscribe("news")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Advertise("news"); err != nil {
		t.Fatal(err)
	}
	if err := sub.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := Publish(srv, "news", "hello"); err != nil {
		t.Fatal(err)
	}
	v, m, err := Receive[string](ctx, cli, sub)
	if err != nil || v != "hello" || m.Publisher != "calc" {
		t.Fatalf("got %q %+v %v", v, m, err)
	}
}
