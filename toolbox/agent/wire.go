package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gozmp/zmp/toolbox/supervise"
)

// Services of an agent. Every agent provides all of them; a caller
// picks the agent with core.OnNode (the Client does).
const (
	ServiceStart   = "agent.start"   // Spec → NodeStatus
	ServiceStop    = "agent.stop"    // {"name"} → NodeStatus
	ServiceRestart = "agent.restart" // {"name"} → NodeStatus
	ServicePS      = "agent.ps"      // nothing → []NodeStatus
	ServiceStatus  = "agent.status"  // nothing → Status
	ServiceLogs    = "agent.logs"    // LogsRequest → a stream of lines (core Download)
)

// Bounds of requests.
const (
	// MaxNameLen is the longest node name an agent accepts.
	MaxNameLen = 128
	// MaxRequestBytes bounds the body of every request.
	MaxRequestBytes = 256 << 10
)

// Restart types of a Spec, as on the wire.
const (
	Permanent = "permanent" // always restarted (the default)
	Transient = "transient" // restarted after an abnormal exit only
	Temporary = "temporary" // never restarted
)

// Spec describes a node to place on an agent: agent.start's request.
type Spec struct {
	// Name is the node's name, in the registry too: 1 to MaxNameLen
	// bytes of [A-Za-z0-9._-], beginning with a letter or a digit.
	Name string `json:"name"`
	// Kind is a kind registered on the agent's launcher.
	Kind string `json:"kind"`
	// Args are the kind's arguments (core.WithKindArgs).
	Args []string `json:"args,omitempty"`
	// Restart is Permanent (when empty), Transient or Temporary: the
	// supervise.RestartType of the node under the agent's supervisor.
	Restart string `json:"restart,omitempty"`
}

// same reports whether a placement of s matches one of t: the same
// kind, arguments and restart type.
func (s Spec) same(t Spec) bool {
	return s.Kind == t.Kind && restartName(s.Restart) == restartName(t.Restart) && equalArgs(s.Args, t.Args)
}

func equalArgs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func restartName(r string) string {
	if r == "" {
		return Permanent
	}
	return r
}

// restartType is the supervise.RestartType of a checked restart name.
func restartType(r string) supervise.RestartType {
	switch r {
	case Transient:
		return supervise.Transient
	case Temporary:
		return supervise.Temporary
	}
	return supervise.Permanent
}

// nameRequest is the request of agent.stop and agent.restart.
type nameRequest struct {
	Name string `json:"name"`
}

// LogsRequest asks agent.logs for a node's output.
type LogsRequest struct {
	Name string `json:"name"`
	// Tail is how many of the last lines kept to send first; 0 or
	// less: all of them.
	Tail int `json:"tail,omitempty"`
	// Follow keeps the stream open, sending new lines as the node
	// writes them, until the node is stopped (removed) or the caller
	// closes the stream.
	Follow bool `json:"follow,omitempty"`
}

// States of a placed node (NodeStatus.State).
const (
	StateStarting   = "starting"   // its first start, or a requested start, is under way
	StateRunning    = "running"    // it runs
	StateRestarting = "restarting" // it ended and waits for its restart (backoff), or for its supervisor to decide
	StateStopping   = "stopping"   // it is being stopped
	StateExited     = "exited"     // it ended and is not restarted (transient, temporary)
	StateFailed     = "failed"     // it failed to start, or its restarts reached the intensity
	StateStopped    = "stopped"    // agent.stop's reply: stopped and removed
)

// NodeStatus describes a node placed on an agent: a line of `zmptool ps`.
type NodeStatus struct {
	Agent   string   `json:"agent"`
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Args    []string `json:"args,omitempty"`
	Restart string   `json:"restart"`
	State   string   `json:"state"`
	// PID is the node's process while it runs, else 0.
	PID int `json:"pid,omitempty"`
	// Restarts counts the supervisor's restarts of the node after it
	// ended by itself (a crash, a kill); Requested counts restarts
	// asked for with agent.restart.
	Restarts  int64 `json:"restarts"`
	Requested int64 `json:"requested_restarts,omitempty"`
	// Started is when the current incarnation started (zero when none
	// runs); Placed when the node was first placed.
	Started time.Time `json:"started,omitzero"`
	Placed  time.Time `json:"placed"`
	// ExitCode and Error describe the last end: the exit code of the
	// process (-1: killed by a signal), and its error or why it failed.
	ExitCode int    `json:"exit_code,omitempty"`
	Error    string `json:"error,omitempty"`
	// Adopted, in agent.start's reply, says the node already ran with
	// this spec and was left running.
	Adopted bool `json:"adopted,omitempty"`
	// LogLines, LogDropped and LogTruncated describe its output ring:
	// lines kept, lines pushed out by newer ones, lines cut at the
	// line bound.
	LogLines     int   `json:"log_lines"`
	LogDropped   int64 `json:"log_dropped,omitempty"`
	LogTruncated int64 `json:"log_truncated,omitempty"`
}

// Running reports whether the node's process runs or is being
// (re)started: the states in which the agent keeps it going.
func (s NodeStatus) Running() bool {
	return s.State == StateRunning || s.State == StateStarting || s.State == StateRestarting
}

// Status is agent.status's reply.
type Status struct {
	Name     string            `json:"name"`
	Host     string            `json:"host"`
	PID      int               `json:"pid"`
	RPC      string            `json:"rpc"`
	Labels   map[string]string `json:"labels,omitempty"`
	Security string            `json:"security"`
	Started  time.Time         `json:"started"`
	Kinds    []string          `json:"kinds"`
	Limits   Limits            `json:"limits"`
	Counts   Counts            `json:"counts"`
}

// Limits are an agent's bounds.
type Limits struct {
	MaxNodes    int `json:"max_nodes"`
	MaxArgs     int `json:"max_args"`
	MaxArgBytes int `json:"max_arg_bytes"`
	LogLines    int `json:"log_lines"`
	LogBytes    int `json:"log_bytes"`
	LogLineMax  int `json:"log_line_max"`
}

// Counts are an agent's counters.
type Counts struct {
	// Nodes are the nodes placed (any state), Running those running.
	Nodes   int `json:"nodes"`
	Running int `json:"running"`
	// Started counts placements that started a node, Adopted those that
	// found it running, Stopped the nodes stopped by request.
	Started int64 `json:"started"`
	Adopted int64 `json:"adopted"`
	Stopped int64 `json:"stopped"`
	// Restarts counts the supervisors' restarts of every node.
	Restarts int64 `json:"restarts"`
	// Refused counts requests answered with an error, by code.
	Refused map[string]int64 `json:"refused,omitempty"`
}

// decodeStrict decodes body, a JSON object, into v: no unknown fields,
// nothing after the object.
func decodeStrict(body []byte, v any) error {
	if len(body) > MaxRequestBytes {
		return failure(CodeTooLarge, "request of %d bytes, at most %d", len(body), MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return failure(CodeBadRequest, "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return failure(CodeBadRequest, "data after the request")
	}
	return nil
}

// decodeStart decodes and checks agent.start's request against the
// argument limits.
func decodeStart(body []byte, maxArgs, maxArgBytes int) (Spec, error) {
	var s Spec
	if err := decodeStrict(body, &s); err != nil {
		return Spec{}, err
	}
	if err := checkName(s.Name); err != nil {
		return Spec{}, err
	}
	if s.Kind == "" || len(s.Kind) > MaxNameLen {
		return Spec{}, failure(CodeUnknownKind, "kind %.40q", s.Kind)
	}
	switch s.Restart {
	case "", Permanent, Transient, Temporary:
	default:
		return Spec{}, failure(CodeBadRequest, "restart type %.40q: want %s, %s or %s", s.Restart, Permanent, Transient, Temporary)
	}
	s.Restart = restartName(s.Restart)
	return s, checkArgs(s.Args, maxArgs, maxArgBytes)
}

// checkArgs checks the number, size and text of args.
func checkArgs(args []string, maxArgs, maxArgBytes int) error {
	if len(args) > maxArgs {
		return failure(CodeTooLarge, "%d arguments, at most %d", len(args), maxArgs)
	}
	total := 0
	for i, a := range args {
		total += len(a)
		if total > maxArgBytes {
			return failure(CodeTooLarge, "arguments of more than %d bytes", maxArgBytes)
		}
		if !utf8.ValidString(a) || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }) {
			return failure(CodeBadArgs, "argument %d is not text: %.40q", i, a)
		}
	}
	return nil
}

// decodeName decodes and checks the request of agent.stop and
// agent.restart.
func decodeName(body []byte) (string, error) {
	var r nameRequest
	if err := decodeStrict(body, &r); err != nil {
		return "", err
	}
	return r.Name, checkName(r.Name)
}

// decodeLogs decodes and checks agent.logs's request.
func decodeLogs(body []byte) (LogsRequest, error) {
	var r LogsRequest
	if err := decodeStrict(body, &r); err != nil {
		return LogsRequest{}, err
	}
	return r, checkName(r.Name)
}

// decodeEmpty checks the request of agent.ps and agent.status: empty,
// null or {}.
func decodeEmpty(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var v *struct{}
	return decodeStrict(body, &v)
}

// CheckName reports whether name may be the name of a node placed on
// an agent: 1 to MaxNameLen bytes of [A-Za-z0-9._-], beginning with a
// letter or a digit. The error matches ErrBadName.
func CheckName(name string) error { return checkName(name) }

func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return failure(CodeBadName, "%.40q must be 1 to %d bytes", name, MaxNameLen)
	}
	for i := range len(name) {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return failure(CodeBadName, "%.40q: only letters, digits, '.', '_' and '-', beginning with a letter or a digit", name)
		}
	}
	return nil
}

// marshal encodes a reply; the types above always encode.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("agent: encoding %T: %v", v, err))
	}
	return b
}
