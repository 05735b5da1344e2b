package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// childStatus is one line the child writes on its status pipe.
type childStatus struct {
	Ready     bool     `json:"ready,omitempty"`
	Info      NodeInfo `json:"info,omitempty"`
	Error     string   `json:"error,omitempty"`      // failed to start
	Is        string   `json:"is,omitempty"`         // text of the sentinel error Error matches
	ExitError string   `json:"exit_error,omitempty"` // ended with an error
}

// procRunner runs one incarnation of a node as a child process.
type procRunner struct {
	l   *Launcher
	cc  childConfig
	cfg config

	cmd    *exec.Cmd
	out    []*linePrefixer
	status chan childStatus // ready or start error, then exit error
	fin    chan struct{}

	mu       sync.Mutex
	exitCode int
	err      error
	exitMsg  string
}

func newProcRunner(l *Launcher, cc childConfig, cfg config) *procRunner {
	return &procRunner{l: l, cc: cc, cfg: cfg, status: make(chan childStatus, 4), fin: make(chan struct{})}
}

func (r *procRunner) done() <-chan struct{} { return r.fin }

func (r *procRunner) pid() int {
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

func (r *procRunner) result() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exitCode, r.err
}

func (r *procRunner) start(ctx context.Context) (NodeInfo, error) {
	if err := r.spawn(); err != nil {
		close(r.fin)
		return NodeInfo{}, err
	}
	select {
	case st := <-r.status:
		if st.Ready {
			return st.Info, nil
		}
		<-r.fin
		return NodeInfo{}, &childStartError{msg: fmt.Sprintf("core: starting %s: %s", r.cc.Name, st.Error), is: sentinelNamed(st.Is)}
	case <-r.fin:
		code, err := r.result()
		return NodeInfo{}, fmt.Errorf("core: %s exited with code %d before it was ready: %v", r.cc.Name, code, err)
	case <-ctx.Done():
		r.cmd.Process.Kill()
		<-r.fin
		return NodeInfo{}, fmt.Errorf("core: starting %s: %w", r.cc.Name, ctx.Err())
	}
}

// childSentinels are the errors whose identity a child's start error
// keeps across the process boundary, so that errors.Is works as for an
// in-process node.
var childSentinels = []error{
	ErrNameTaken, ErrBadName, ErrClosed, ErrNoProvider, ErrTimeout, ErrUnknownService,
	ErrTooLarge, ErrConnectionLost, ErrOverloaded, ErrNotFound, ErrStopTimeout,
	ErrBadArgs, ErrUnknownKind,
}

// startFailure is the status a child sends when its node did not start.
func startFailure(err error) childStatus {
	st := childStatus{Error: err.Error()}
	for _, s := range childSentinels {
		if errors.Is(err, s) {
			st.Is = s.Error()
			break
		}
	}
	return st
}

func sentinelNamed(text string) error {
	for _, s := range childSentinels {
		if text != "" && s.Error() == text {
			return s
		}
	}
	return nil
}

// childStartError is a child's start error as the parent sees it.
type childStartError struct {
	msg string
	is  error // the sentinel it matches, or nil
}

func (e *childStartError) Error() string { return e.msg }
func (e *childStartError) Unwrap() error { return e.is }

// spawn starts the child with its status pipe on fd 3 and the read end
// of its parent-alive pipe on fd 4.
func (r *procRunner) spawn() error {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return err
	}
	aliveR, aliveW, err := os.Pipe()
	if err != nil {
		statusR.Close()
		statusW.Close()
		return err
	}
	out := r.cfg.output
	if out == nil {
		out = os.Stderr
	}
	prefix := "[" + r.cc.Name + "] "
	r.out = []*linePrefixer{{w: out, prefix: prefix}, {w: out, prefix: prefix}}
	cmd := exec.Command(r.l.exe, r.l.args...)
	cmd.Env = append(os.Environ(), envChild+"="+r.cc.encode())
	cmd.ExtraFiles = []*os.File{statusW, aliveR}
	cmd.Stdout, cmd.Stderr = r.out[0], r.out[1]
	cmd.SysProcAttr = childProcAttr()
	err = cmd.Start()
	statusW.Close()
	aliveR.Close()
	if err != nil {
		statusR.Close()
		aliveW.Close()
		return fmt.Errorf("core: starting child %s: %w", r.cc.Name, err)
	}
	r.cmd = cmd
	go r.wait(statusR, aliveW)
	return nil
}

// wait reads the child's status lines, reaps it and records the result.
func (r *procRunner) wait(statusR, aliveW *os.File) {
	defer close(r.fin)
	dec := json.NewDecoder(statusR)
	for {
		var st childStatus
		if err := dec.Decode(&st); err != nil {
			break
		}
		if st.ExitError != "" {
			r.mu.Lock()
			r.exitMsg = st.ExitError
			r.mu.Unlock()
		}
		select {
		case r.status <- st:
		default:
		}
	}
	statusR.Close()
	waitErr := r.cmd.Wait()
	aliveW.Close()
	for _, o := range r.out {
		o.flush()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exitCode = r.cmd.ProcessState.ExitCode()
	switch {
	case r.exitMsg != "":
		r.err = errors.New(r.exitMsg)
	case waitErr != nil:
		r.err = fmt.Errorf("core: %s: %w", r.cc.Name, waitErr)
	}
}

func (r *procRunner) stop(ctx context.Context) error {
	if r.cmd == nil {
		return nil
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.fin:
		return nil
	case <-ctx.Done():
		r.cmd.Process.Kill()
		<-r.fin
		return fmt.Errorf("%w: %s (pid %d killed)", ErrStopTimeout, r.cc.Name, r.cmd.Process.Pid)
	}
}

// linePrefixer writes each complete line to w with prefix in front.
type linePrefixer struct {
	w      io.Writer
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(p.buf[:i+1])
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > bufio.MaxScanTokenSize {
		p.emit(append(p.buf, '\n'))
		p.buf = nil
	}
	return len(b), nil
}

func (p *linePrefixer) emit(line []byte) {
	out := make([]byte, 0, len(p.prefix)+len(line))
	out = append(append(out, p.prefix...), line...)
	p.w.Write(out)
}

func (p *linePrefixer) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.emit(append(p.buf, '\n'))
		p.buf = nil
	}
}
