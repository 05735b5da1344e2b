package proxy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/proxy"
)

// A queue with one worker, asked by a client.
func ExampleQueue() {
	q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer q.Close()
	w, _ := proxy.NewWorker(q.BackendEndpoint(), proxy.HandlerFunc(
		func(_ context.Context, body [][]byte) ([][]byte, error) {
			return [][]byte{append([]byte("hello, "), body[0]...)}, nil
		}))
	defer w.Close()
	c, _ := proxy.NewQueueClient(q.FrontendEndpoint())
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := c.Request(ctx, []byte("queue"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", reply[0])
	// Output: hello, queue
}

// A broker routing by service name, and its discovery request.
func ExampleBroker() {
	b, err := proxy.NewBroker("tcp://127.0.0.1:0", "")
	if err != nil {
		panic(err)
	}
	defer b.Close()
	w, _ := proxy.NewServiceWorker(b.FrontendEndpoint(), "echo", proxy.HandlerFunc(
		func(_ context.Context, body [][]byte) ([][]byte, error) { return body, nil }))
	defer w.Close()
	c, _ := proxy.NewBrokerClient(b.FrontendEndpoint())
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := c.Request(ctx, "echo", []byte("ping"))
	if err != nil {
		panic(err)
	}
	echo, _ := c.Available(ctx, "echo")
	other, _ := c.Available(ctx, "other")
	fmt.Printf("%s %v %v\n", reply[0], echo, other)
	// Output: ping true false
}

// A forwarder that dials a zmp node's PUB socket and serves a plain
// ZeroMQ SUB (here go-zeromq/zmq4; pyzmq or libzmq work the same), with
// a last-value cache so that a late subscriber gets the latest value at
// once.
func ExampleForwarder() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, err := core.NewPeer(ctx, "sensor", core.WithRegistry(core.NewMemRegistry()))
	if err != nil {
		panic(err)
	}
	defer node.Close()
	f, err := proxy.NewForwarder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0",
		proxy.WithConnect(node.Info().Pub), proxy.WithLastValueCache(100))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	for f.Stats().Cached == 0 { // publish until the forwarder has it
		node.Publish("temperature", []byte("21.5"))
		time.Sleep(5 * time.Millisecond)
	}

	sub := zmq4.NewSub(ctx)
	defer sub.Close()
	sub.SetOption(zmq4.OptionSubscribe, "temp")
	if err := sub.Dial(f.BackendEndpoint()); err != nil {
		panic(err)
	}
	m, err := sub.Recv() // zmp topic frames end with a NUL byte
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q = %s\n", m.Frames[0], m.Frames[len(m.Frames)-1])
	// Output: "temperature\x00" = 21.5
}

// A queue secured with CURVE, as a zmp node is: its clients and
// workers dial the proxy's endpoint with its public key appended
// ("?key=Z85"), and the proxy admits only the keys it was given.
func ExampleWithSecurity() {
	proxyKeys, _ := core.GenerateKeyPair()
	workerKeys, _ := core.GenerateKeyPair()
	clientKeys, _ := core.GenerateKeyPair()
	admit, _ := core.NewAuthenticator(core.AllowKeys(workerKeys.Public, clientKeys.Public))
	q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0",
		proxy.WithSecurity(core.Curve(proxyKeys, admit)))
	if err != nil {
		panic(err)
	}
	defer q.Close()

	// Peers trust the proxy's key, as nodes trust the providers they call.
	trust, _ := core.NewAuthenticator(core.AllowKeys(proxyKeys.Public))
	w, err := proxy.NewWorker(core.KeyedEndpoint(q.BackendEndpoint(), proxyKeys.Public),
		proxy.HandlerFunc(func(_ context.Context, body [][]byte) ([][]byte, error) {
			return [][]byte{append([]byte("hello, "), body[0]...)}, nil
		}), proxy.WithSecurity(core.Curve(workerKeys, trust)))
	if err != nil {
		panic(err)
	}
	defer w.Close()
	c, err := proxy.NewQueueClient(core.KeyedEndpoint(q.FrontendEndpoint(), proxyKeys.Public),
		proxy.WithSecurity(core.Curve(clientKeys, trust)))
	if err != nil {
		panic(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := c.Request(ctx, []byte("curve"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s (frontend %s)\n", reply[0], q.Stats().Frontend.Mechanism)
	// Output: hello, curve (frontend CURVE)
}
