package hitratio

import (
	"context"
	"testing"
)

// TestToolboxMatchesGolangLRU: toolbox/cache builds its policies from
// golang-lru's lists to keep its algorithms, so on the same trace each
// must count exactly the hits of golang-lru's own type.
func TestToolboxMatchesGolangLRU(t *testing.T) {
	zipf, err := ZipfTrace(5000, 50000, 1, 9)
	if err != nil {
		t.Fatal(err)
	}
	oltp, err := DefaultOLTP(5000).Generate(50000, 9)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Contender{}
	for _, c := range Contenders() {
		byName[c.Name] = c
	}
	for _, tr := range []*Trace{zipf, oltp} {
		for _, name := range []string{"lru", "2q", "arc"} {
			for _, capacity := range []int{50, 500} {
				want, _ := Run(context.Background(), tr.Keys, newPolicy(t, byName[name], capacity))
				got, _ := Run(context.Background(), tr.Keys, newPolicy(t, byName["tb-"+name], capacity))
				if got != want {
					t.Errorf("%s %s at %d: toolbox/cache %+v, golang-lru %+v", tr.Name, name, capacity, got, want)
				}
			}
		}
	}
}
