package feedback_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/gozmp/zmp/toolbox/cache"
	"github.com/gozmp/zmp/toolbox/feedback"
)

// A loop holds a simulated LRU cache, read 10,000 times a second with
// Zipf keys, at an 80 % hit rate; when the working set doubles it grows
// the cache to keep the hit rate. A toolbox/cache Cache plugs in the
// same way with feedback.ResizableCache(c), and on real time a Runner
// steps the loop: feedback.NewRunner(loop, time.Second).
func ExampleHitRateLoop() {
	sim := feedback.NewSim(1)
	plant, err := feedback.NewCachePlant(sim, feedback.CacheConfig{Capacity: 256, Keys: 10_000, Rate: 10_000})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := feedback.NewResizablePlant(plant)
	loop, err := feedback.NewHitRateLoop(0.8, c, feedback.WithSizeBounds(64, 100_000))
	if err != nil {
		fmt.Println(err)
		return
	}
	run := func(windows int) {
		var hits, reads int
		for i := range windows {
			s := c.Step(time.Second) // the cache serves a window of reads
			loop.Step(time.Second)   // the loop measures them and resizes
			if i >= windows-10 {
				hits, reads = hits+s.Hits, reads+s.Requests
			}
		}
		fmt.Printf("hit rate %.0f %% at about %d00 entries\n", 100*float64(hits)/float64(reads), (loop.Stats().Size+50)/100)
	}
	run(30)
	plant.SetWorkingSet(20_000, 0)
	run(30)
	// Output:
	// hit rate 80 % at about 1200 entries
	// hit rate 80 % at about 2000 entries
}

// The ready-made scenario behind `zmptool feedback sim --loop hitrate`:
// the working set doubles after 60 windows and halves back after 120;
// the same reads go through a cache of fixed size for comparison.
func ExampleSimulateHitRate() {
	r, err := feedback.SimulateHitRate(feedback.HitRateSim{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"phase1_hitrate", "phase1_baseline_hitrate", "phase1_settle_windows", "phase2_reversals"} {
		v, _ := r.Metric(name)
		fmt.Printf("%s %.0f\n", name, v)
	}
	// Output:
	// phase1_hitrate 80
	// phase1_baseline_hitrate 76
	// phase1_settle_windows 1
	// phase2_reversals 1
}

// A toolbox/cache Cache, read through by an application, held at 80 %
// by a loop stepped every 10,000 lookups (a Runner would step it on a
// timer instead).
func ExampleResizableCache() {
	c, err := cache.New[string](cache.WithMaxEntries(100))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	loop, err := feedback.NewHitRateLoop(0.8, feedback.ResizableCache(c))
	if err != nil {
		fmt.Println(err)
		return
	}
	zipf := rand.NewZipf(rand.New(rand.NewPCG(1, 2)), 1.1, 1, 9_999)
	for range 20 {
		for range 10_000 {
			key := strconv.FormatUint(zipf.Uint64(), 10)
			if _, ok := c.Get(key); !ok {
				_ = c.Set(key, "value of "+key, 0) // the miss is filled
			}
		}
		loop.Step(time.Second)
	}
	last := loop.Last()
	fmt.Printf("%.0f %% hit rate at about %d00 entries\n", 100*last.HitRate, (last.Size+50)/100)
	// Output:
	// 80 % hit rate at about 1300 entries
}
