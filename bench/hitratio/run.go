package hitratio

import "context"

// Counts are the outcome of one replay.
type Counts struct {
	Requests int64 `json:"requests"`
	Hits     int64 `json:"hits"`
	Misses   int64 `json:"misses"`
}

// HitRatio is Hits / Requests, 0 for no requests.
func (c Counts) HitRatio() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Hits) / float64(c.Requests)
}

// checkEvery is how many requests Run replays between looks at ctx.
const checkEvery = 1 << 16

// Run replays keys against p as a demand-filled cache: Get each key, and
// Add it after a miss. It returns the counts so far and ctx.Err() if ctx
// ends first.
func Run(ctx context.Context, keys []uint64, p Policy) (Counts, error) {
	var c Counts
	for i, k := range keys {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return c, err
			}
		}
		c.Requests++
		if p.Get(k) {
			c.Hits++
			continue
		}
		c.Misses++
		p.Add(k)
	}
	return c, nil
}
