package core_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
)

// A toy user of the registry watch: a membership tracker that prints
// the nodes joining and leaving, as the registry pushes its states.
func ExampleRegistryWatcher() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()

	var w core.RegistryWatcher = reg // also DirRegistry, RemoteRegistry
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	states, err := w.Watch(watchCtx)
	if err != nil {
		fmt.Println(err)
		return
	}
	members := map[string]bool{}
	track := func() { // applies the next state: who joined, who left
		nodes := <-states
		seen := map[string]bool{}
		for _, n := range nodes {
			seen[n.Name] = true
			if !members[n.Name] {
				fmt.Println("joined:", n.Name)
			}
		}
		for name := range members {
			if !seen[name] {
				fmt.Println("left:", name)
			}
		}
		members = seen
	}

	track() // the first state is the current one: empty
	reg.Register(ctx, core.NodeInfo{Name: "calc", ID: "c1"}, time.Minute)
	track()
	reg.Register(ctx, core.NodeInfo{Name: "sensor", ID: "s1"}, time.Minute)
	track()
	reg.Deregister(ctx, "calc", "c1")
	track()

	stop()
	for range states { // closed once the watch has ended
	}
	fmt.Println("watch closed")
	// Output:
	// joined: calc
	// joined: sensor
	// left: calc
	// watch closed
}

// Labels describe a node; NodeInfo.HasLabels selects nodes by them.
func ExampleWithLabels() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	for _, zone := range []string{"eu-1", "us-2"} {
		p, err := core.NewPeer(ctx, "cache-"+zone, core.WithRegistry(reg),
			core.WithLabels(map[string]string{"zone": zone, "role": "cache"}))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer p.Close()
	}
	nodes, _ := reg.Nodes(ctx)
	for _, n := range nodes {
		if n.HasLabels(map[string]string{"zone": "eu-1"}) {
			fmt.Println(n.Name, core.FormatLabels(n.Labels))
		}
	}
	_, err := core.NewPeer(ctx, "bad", core.WithRegistry(reg), core.WithLabels(map[string]string{"Zone": "x"}))
	fmt.Println(err)
	// Output:
	// cache-eu-1 role=cache,zone=eu-1
	// core: bad label: key "Zone" must begin with a-z or 0-9
}

// A subscription that takes messages only from publishers in one zone.
func ExampleFromLabels() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	var sensors []*core.Peer
	for _, zone := range []string{"a", "b"} {
		p, err := core.NewPeer(ctx, "sensor-"+zone, core.WithRegistry(reg), core.WithLabels(map[string]string{"zone": zone}))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer p.Close()
		p.Advertise("temperature")
		sensors = append(sensors, p)
	}
	obs, err := core.NewPeer(ctx, "observer", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer obs.Close()
	sub, err := obs.Subscribe("temperature", core.FromLabels(map[string]string{"zone": "b"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := sub.WaitConnected(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range sensors {
		core.Publish(p, "temperature", p.Name())
	}
	m, _ := sub.Next(ctx)
	fmt.Printf("%s from %s; %d publisher\n", m.Data, m.Publisher, sub.Stats().Publishers)
	// Output:
	// "sensor-b" from sensor-b; 1 publisher
}
