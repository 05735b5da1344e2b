package harness

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/gozmp/zmp/bench/systems"
)

// Machine describes where a run happened.
type Machine struct {
	CPU      string            `json:"cpu"`
	Cores    int               `json:"cores"`
	Kernel   string            `json:"kernel"`
	Go       string            `json:"go"`
	MemTotal string            `json:"mem_total"`
	Versions map[string]string `json:"versions"` // of the systems compared
}

// Describe reads the machine's description from /proc and the build.
func Describe() Machine {
	m := Machine{CPU: procField("/proc/cpuinfo", "model name"), Cores: runtime.NumCPU(), Go: runtime.Version(),
		MemTotal: procField("/proc/meminfo", "MemTotal"), Versions: map[string]string{}}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			switch d.Path {
			case "github.com/go-zeromq/zmq4", "github.com/pebbe/zmq4", "github.com/nats-io/nats-server/v2", "github.com/nats-io/nats.go":
				m.Versions[d.Path] = d.Version
			}
		}
	}
	m.Versions["nats-server"] = systems.NATSVersion
	if v := systems.LibzmqVersion(); v != "" {
		m.Versions["libzmq"] = v
	}
	return m
}

// procField returns the value of the first "key: value" line of file.
func procField(file, key string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
