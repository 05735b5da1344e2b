package cache

import "errors"

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrClosed is returned by operations on a closed cache, memo or
	// server.
	ErrClosed = errors.New("cache: closed")
	// ErrTooLarge means an entry is larger than the cache's byte bound,
	// so it can never be stored.
	ErrTooLarge = errors.New("cache: entry larger than the cache")
	// ErrBadOption reports an option with a value it cannot take, or
	// one given to an object it does not apply to.
	ErrBadOption = errors.New("cache: bad option")
)
