//go:build !linux

package core

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// dirStaleLock is the age after which a lock file is taken to be left
// over by a crashed process.
const dirStaleLock = 10 * time.Second

// dirTryLock tries once to take the lock by creating the file at path
// exclusively. It is best effort: a lock file older than dirStaleLock is
// removed, so that a crashed holder does not block the registry.
func dirTryLock(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > dirStaleLock {
			_ = os.Remove(path)
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("core: registry lock: %w", err)
	}
	_ = f.Close()
	return func() { _ = os.Remove(path) }, true, nil
}

// dirPIDStart returns 0: process start times are not checked here.
func dirPIDStart(int) uint64 { return 0 }

// dirPIDAlive reports true: liveness of processes is not checked here,
// so entries live until their lease expires.
func dirPIDAlive(int, uint64) bool { return true }

// Watch reports ErrWatchUnsupported: this platform has no directory
// watch here, so peers poll the directory.
func (r *DirRegistry) Watch(context.Context) (<-chan []NodeInfo, error) {
	return nil, ErrWatchUnsupported
}
