package hitratio

import (
	"fmt"

	arc "github.com/hashicorp/golang-lru/arc/v2"
	lru "github.com/hashicorp/golang-lru/v2"
)

// NewLRU is golang-lru's LRU (lru.New).
func NewLRU(capacity int) (Policy, error) {
	c, err := lru.New[uint64, struct{}](capacity)
	if err != nil {
		return nil, fmt.Errorf("%w: lru: %v", ErrParam, err)
	}
	return golangLRU{get: c.Get, add: func(k uint64) { c.Add(k, struct{}{}) }}, nil
}

// New2Q is golang-lru's 2Q (lru.New2Q, its default ratios: a recent
// queue of 25% of the capacity and ghost entries for 50%).
func New2Q(capacity int) (Policy, error) {
	c, err := lru.New2Q[uint64, struct{}](capacity)
	if err != nil {
		return nil, fmt.Errorf("%w: 2q: %v", ErrParam, err)
	}
	return golangLRU{get: c.Get, add: func(k uint64) { c.Add(k, struct{}{}) }}, nil
}

// NewARC is golang-lru's ARC (arc.NewARC).
func NewARC(capacity int) (Policy, error) {
	c, err := arc.NewARC[uint64, struct{}](capacity)
	if err != nil {
		return nil, fmt.Errorf("%w: arc: %v", ErrParam, err)
	}
	return golangLRU{get: c.Get, add: func(k uint64) { c.Add(k, struct{}{}) }}, nil
}

// golangLRU adapts the three golang-lru types, all synchronous: an Add
// has evicted by the time it returns. Their Add methods differ in what
// they return, hence the closure.
type golangLRU struct {
	get func(uint64) (struct{}, bool)
	add func(uint64)
}

func (g golangLRU) Get(key uint64) bool {
	_, ok := g.get(key)
	return ok
}

func (g golangLRU) Add(key uint64) { g.add(key) }
