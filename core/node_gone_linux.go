//go:build linux

package core

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's start time: 100
// on every Linux architecture Go runs on.
const clockTicks = 100

// processGoneSince reports whether pid runs no process, or a zombie, or
// one that started after since (plus a second of slack for the
// resolution of the clocks).
func processGoneSince(pid int, since time.Time) bool {
	state, start, ok := dirProcStat(pid)
	if !ok || state == 'Z' || state == 'X' || state == 'x' {
		return true
	}
	boot, ok := bootTime()
	if !ok {
		return false
	}
	started := boot.Add(time.Duration(start) * time.Second / clockTicks)
	return started.After(since.Add(time.Second))
}

// bootTime reads the boot time from /proc/stat's btime line.
func bootTime() (time.Time, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("btime ")); ok {
			s, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return time.Unix(s, 0), err == nil
		}
	}
	return time.Time{}, false
}
