//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package consensus

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// stLockDir opens (creating) the lock file at path and takes an
// exclusive, non-blocking flock on it. flock locks belong to the open
// file, so a second OpenStore in the same process is refused as well as
// one in another process; the kernel drops the lock when the process
// exits, however it exits.
func stLockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, storeFileMode)
	if err != nil {
		return nil, fmt.Errorf("consensus: lock file: %w", err)
	}
	if err := stFlock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrStoreLocked, path)
		}
		return nil, fmt.Errorf("consensus: lock %s: %w", path, err)
	}
	return f, nil
}

// stFlock calls flock, retrying when a signal interrupts it.
func stFlock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// releaseLock unlocks and closes the lock file. The file stays: removing
// it would let two processes lock two different files of one name.
func (s *Store) releaseLock() error {
	err := stFlock(s.lock, syscall.LOCK_UN)
	if cerr := s.lock.Close(); err == nil {
		err = cerr
	}
	return err
}
