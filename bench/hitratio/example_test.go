package hitratio_test

import (
	"context"
	"fmt"

	"github.com/gozmp/zmp/bench/hitratio"
)

// Replay a Zipf trace against golang-lru's ARC holding 10% of the keys.
func ExampleRun() {
	trace, err := hitratio.ZipfTrace(1000, 100000, 1.0, 1)
	if err != nil {
		panic(err)
	}
	p, err := hitratio.NewARC(100)
	if err != nil {
		panic(err)
	}
	c, err := hitratio.Run(context.Background(), trace.Keys, p)
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Requests == c.Hits+c.Misses, c.HitRatio() > 0.5)
	// Output: true true
}
