package supervise_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// A group of two nodes runs as one node: started and stopped together,
// supervised under one strategy, and its services reached by its name.
func ExampleNewGroup() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	member := func(name, service string) supervise.Member {
		return supervise.Member{Name: name, New: func(opts ...core.Option) (*core.Node, error) {
			return core.NewNode(name, core.Behavior{Setup: func(_ context.Context, p *core.Peer) error {
				return p.HandleFunc(service, func(context.Context, *core.Request) ([]byte, error) {
					return []byte(service + " by " + name), nil
				})
			}}, append([]core.Option{core.WithRegistry(reg)}, opts...)...)
		}}
	}
	g, err := supervise.NewGroup("shop", supervise.OneForAll, []supervise.Member{
		member("shop-orders", "orders.place"), member("shop-stock", "stock.reserve"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer g.Close()
	if err := g.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	gi, _ := supervise.GroupMembers(ctx, reg, "shop")
	fmt.Println(len(gi.Members), "members:", gi.Services)

	caller, _ := core.NewPeer(ctx, "caller", core.WithRegistry(reg))
	defer caller.Close()
	inShop := core.Where(map[string]string{supervise.GroupLabel: "shop"})
	reply, err := caller.Call(ctx, "stock.reserve", nil, inShop)
	fmt.Println(string(reply), err)
	// Output:
	// 2 members: [orders.place stock.reserve]
	// stock.reserve by shop-stock <nil>
}
