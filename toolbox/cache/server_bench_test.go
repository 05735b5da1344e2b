package cache

import (
	"fmt"
	"testing"

	"github.com/gozmp/zmp/core"
)

// BenchmarkServer measures one client's sequential operations over tcp
// with 100-byte values.
func BenchmarkServer(b *testing.B) {
	for _, op := range []string{"get", "set", "cas"} {
		b.Run(op, func(b *testing.B) { benchServerOp(b, op) })
	}
}

func benchServerOp(b *testing.B, op string) {
	reg := core.NewMemRegistry()
	sp, err := core.NewPeer(b.Context(), "cache-node", core.WithRegistry(reg))
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	s, err := NewServer(sp, "cache")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cp, err := core.NewPeer(b.Context(), "client", core.WithRegistry(reg))
	if err != nil {
		b.Fatal(err)
	}
	defer cp.Close()
	c, _ := NewClient(cp, "cache")
	val := make([]byte, 100)
	ver, err := c.Set(b.Context(), "k", val, 0)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		switch op {
		case "get":
			_, _, err = c.Get(b.Context(), "k")
		case "set":
			_, err = c.Set(b.Context(), fmt.Sprint("k", i%1000), val, 0)
		case "cas":
			ver, err = c.CompareAndSet(b.Context(), "k", ver, val, 0)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
