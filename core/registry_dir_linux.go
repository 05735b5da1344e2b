//go:build linux

package core

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// dirTryLock tries once to take an exclusive flock on the lock file at
// path, creating it if needed. ok is false if another holder has it.
// The lock is released by unlock, or by the kernel if the process dies.
func dirTryLock(path string) (unlock func(), ok bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("core: registry lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	switch {
	case err == nil:
		return func() { _ = f.Close() }, true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		_ = f.Close()
		return nil, false, nil
	default:
		_ = f.Close()
		return nil, false, fmt.Errorf("core: registry lock: %w", err)
	}
}

// dirProcStat returns the state and start time of process pid.
func dirProcStat(pid int) (state byte, start uint64, ok bool) {
	if pid <= 0 {
		return 0, 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	return dirParseStat(b)
}

// dirPIDStart returns the start time of process pid, or 0 if it does
// not exist.
func dirPIDStart(pid int) uint64 {
	_, start, _ := dirProcStat(pid)
	return start
}

// dirPIDAlive reports whether pid is a running (not zombie) process that
// started at start, that is, not a later process reusing the PID.
func dirPIDAlive(pid int, start uint64) bool {
	state, s, ok := dirProcStat(pid)
	if !ok || state == 'Z' || state == 'X' || state == 'x' {
		return false
	}
	return s == start
}
