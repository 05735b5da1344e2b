package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/gozmp/zmp/bench/spec"
)

// Orders a driver writes on a worker's stdin, one per line. End of
// input means stop.
const orderStart = "start"

// Line is one line a worker writes on stdout, as JSON.
type Line struct {
	Ready  bool    `json:"ready,omitempty"` // the worker serves, or its subscribers are ready
	Addr   string  `json:"addr,omitempty"`  // with Ready from a server: what the client dials
	Result *Result `json:"result,omitempty"`
}

// Result is a worker's report, written just before it exits.
type Result struct {
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Stats   map[string]float64 `json:"stats,omitempty"`
	HWMKiB  int64              `json:"vmhwm_kib"` // peak RSS of the worker process
	Error   string             `json:"error,omitempty"`
}

// Roles of worker processes, also their subcommand names.
const (
	RoleServe = "serve"
	RoleDrive = "drive"
)

// Job is what one worker process does.
type Job struct {
	System   string
	Variant  spec.Variant
	Dir      string        // private directory of the measurement (registry, Unix sockets)
	Addr     string        // client: the server's address
	Duration time.Duration // client: measured window
	Warmup   time.Duration // client: time before the window
	CPUs     string        // CPU list the worker binds itself to; "" for none
}

// Args returns the command line of a worker of role doing j; the
// worker subcommands of zmpbench take these flags.
func (j Job) Args(role string) []string {
	v := j.Variant
	args := []string{role,
		"--system", j.System, "--case", string(v.Case), "--transport", v.Transport,
		"--size", strconv.Itoa(v.Size), "--inflight", strconv.Itoa(v.Inflight),
		"--subs", strconv.Itoa(v.Subs), "--dir", j.Dir,
	}
	if v.Security != spec.Null {
		args = append(args, "--security", v.Security)
	}
	if j.CPUs != "" {
		args = append(args, "--cpus", j.CPUs)
	}
	if role == RoleDrive {
		args = append(args, "--addr", j.Addr, "--duration", j.Duration.String(), "--warmup", j.Warmup.String())
	}
	return args
}

// emit writes one line of JSON.
func emit(w io.Writer, l Line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
