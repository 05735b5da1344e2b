//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package consensus

import (
	"errors"
	"os"
)

// errLockUnsupported is returned by OpenStore where flock is missing.
var errLockUnsupported = errors.New("consensus: store directory locking is not supported on this platform")

func stLockDir(string) (*os.File, error) { return nil, errLockUnsupported }

func (s *Store) releaseLock() error { return nil }
