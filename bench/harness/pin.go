package harness

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// parseCPUs parses a CPU list such as "0" or "0,1".
func parseCPUs(list string) (unix.CPUSet, error) {
	var set unix.CPUSet
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return set, fmt.Errorf("bad CPU list %q", list)
		}
		set.Set(n)
	}
	return set, nil
}

// ResolveCPUs validates a CPU list for Config.PinRTT; "auto" is the
// first CPU this process may run on.
func ResolveCPUs(list string) (string, error) {
	if list != "auto" {
		_, err := parseCPUs(list)
		return list, err
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return "", err
	}
	for n := range 1 << 10 {
		if set.IsSet(n) {
			return strconv.Itoa(n), nil
		}
	}
	return "", fmt.Errorf("no CPU in this process's affinity mask")
}

// pinSelf binds every thread of this process to the CPUs of list;
// threads started later inherit the binding. It also sets GOMAXPROCS to
// the number of those CPUs: what the Go runtime does by itself for a
// process started bound (it reads its affinity mask at start), so that
// a worker pinned here runs as it would under taskset, with no idle P
// whose thread must be woken to compete for the same CPU.
func pinSelf(list string) error {
	set, err := parseCPUs(list)
	if err != nil {
		return err
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			return fmt.Errorf("pinning thread %d to CPUs %s: %w", tid, list, err)
		}
	}
	runtime.GOMAXPROCS(set.Count())
	return nil
}
