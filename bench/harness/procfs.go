package harness

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// statusKiB reads a "kB" field of /proc/<pid>/status (pid "self" for
// this process): VmHWM is the peak resident set, VmRSS the current one.
func statusKiB(pid, field string) (int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s in /proc/%s/status", field, pid)
}

// peakRSSKiB is this process's VmHWM, 0 where /proc is missing.
func peakRSSKiB() int64 {
	n, _ := statusKiB("self", "VmHWM")
	return n
}
