package hitratio

import (
	"strconv"

	"github.com/gozmp/zmp/toolbox/cache"
)

// Policy is a cache under test, holding at most a fixed number of
// entries. Values do not matter to a hit ratio; adapters store an empty
// struct.
//
// A Policy may also implement Close() (called by [Compare] after its
// replay) and Note() string (a remark for the report, such as dropped
// events).
type Policy interface {
	// Get reports whether key is cached, and counts as an access.
	Get(key uint64) bool
	// Add caches key after a miss, evicting (or, for an admission
	// policy, refusing) as the policy decides. When Add returns, the
	// outcome must be visible to the next Get.
	Add(key uint64)
}

// StringCache is a cache keyed by string, as toolbox/cache is.
type StringCache interface {
	Get(key string) bool
	Add(key string)
}

// StringKeys adapts a cache keyed by string: each key is formatted in
// base 36, a bijection, so hits and misses are those of the uint64 keys.
// Close and Note are passed on when c has them.
//
// [NewToolbox] adapts toolbox/cache this way.
func StringKeys(c StringCache) Policy { return stringKeys{c} }

type stringKeys struct{ c StringCache }

func (s stringKeys) Get(key uint64) bool { return s.c.Get(strconv.FormatUint(key, 36)) }
func (s stringKeys) Add(key uint64)      { s.c.Add(strconv.FormatUint(key, 36)) }

func (s stringKeys) Close() {
	if c, ok := s.c.(interface{ Close() }); ok {
		c.Close()
	}
}

func (s stringKeys) Note() string {
	if n, ok := s.c.(interface{ Note() string }); ok {
		return n.Note()
	}
	return ""
}

// Families of contenders: the goal compares the best of each family
// with the best of FamilyTinyLFU.
const (
	FamilyGolangLRU = "golang-lru"
	FamilyToolbox   = "toolbox/cache"
	FamilyTinyLFU   = "W-TinyLFU"
)

// Contender is a named policy constructor.
type Contender struct {
	Name   string // short name in reports and --policies, e.g. "arc"
	Family string // FamilyGolangLRU, FamilyToolbox or FamilyTinyLFU
	// New makes an empty cache holding at most capacity entries.
	New func(capacity int) (Policy, error)
}

// Contenders lists the policies this module can compare: golang-lru's,
// toolbox/cache's (prefixed "tb-"), then the W-TinyLFU caches.
func Contenders() []Contender {
	return []Contender{
		{Name: "lru", Family: FamilyGolangLRU, New: NewLRU},
		{Name: "2q", Family: FamilyGolangLRU, New: New2Q},
		{Name: "arc", Family: FamilyGolangLRU, New: NewARC},
		{Name: "tb-lru", Family: FamilyToolbox, New: NewToolbox(cache.LRU)},
		{Name: "tb-2q", Family: FamilyToolbox, New: NewToolbox(cache.TwoQueue)},
		{Name: "tb-arc", Family: FamilyToolbox, New: NewToolbox(cache.ARC)},
		{Name: "otter", Family: FamilyTinyLFU, New: NewOtter},
		{Name: "ristretto", Family: FamilyTinyLFU, New: NewRistretto},
	}
}
