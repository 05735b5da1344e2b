package core_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
)

// A publisher that would rather slow down than lose messages waits for
// room before each Publish: with a publish queue of 4 messages and a
// subscriber that reads more slowly than the publisher publishes, none
// of the burst is dropped at the publisher.
func ExamplePeer_WaitRoom() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	pub, err := core.NewPeer(ctx, "source", core.WithRegistry(reg), core.WithPublishQueue(4, core.DropNewest))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pub.Close()
	reader, err := core.NewPeer(ctx, "sink", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reader.Close()
	sub, err := reader.Subscribe("ticks") // a queue of 1000: room for the burst
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	if err := pub.Advertise("ticks"); err != nil {
		fmt.Println(err)
		return
	}
	if err := sub.WaitConnected(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	const n = 200
	go func() {
		for i := range n {
			if err := pub.WaitRoom(ctx, "ticks"); err != nil {
				return
			}
			core.Publish(pub, "ticks", i)
		}
	}()
	sum := 0
	for range n {
		v, _, err := core.Receive[int](ctx, reader, sub)
		if err != nil {
			fmt.Println(err)
			return
		}
		sum += v
		time.Sleep(100 * time.Microsecond) // a slow reader
	}
	fmt.Println("received", n, "messages, sum", sum, "dropped", pub.Stats().Topics["ticks"].Dropped)
	// Output: received 200 messages, sum 19900 dropped 0
}
