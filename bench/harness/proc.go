package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// rssPoll is how often the driver samples a worker's resident set to
// enforce the RSS limit.
const rssPoll = 50 * time.Millisecond

// proc is a running worker process.
type proc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan Line     // JSON lines of its stdout; closed at its end
	done  chan struct{} // closed once it has exited and been waited for
	err   error         // its exit status, set before done is closed

	limitKiB int64
	peakKiB  atomic.Int64 // highest VmRSS seen by the driver
	overRSS  atomic.Bool  // killed for going over limitKiB
	results  atomic.Bool  // a result line was read
	wg       sync.WaitGroup
}

// startProc starts exe with args and env; its stderr goes to stderr
// with every line prefixed by "[name] ".
func startProc(name, exe string, args, env []string, stderr *lockedWriter, limitKiB int64) (*proc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.Stderr = newPrefixWriter(stderr, "["+name+"] ")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, stdin: stdin, lines: make(chan Line, 8), done: make(chan struct{}), limitKiB: limitKiB}
	p.wg.Go(func() { p.read(stdout, stderr) })
	p.wg.Go(p.guard)
	return p, nil
}

// read decodes stdout lines until its end, then waits for the process.
func (p *proc) read(stdout io.Reader, stderr *lockedWriter) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			stderr.printf("[%s] %s\n", p.name, sc.Bytes())
			continue
		}
		p.lines <- l
	}
	close(p.lines)
	p.err = p.cmd.Wait()
	close(p.done)
}

// guard samples VmRSS and kills the process above the limit.
func (p *proc) guard() {
	t := time.NewTicker(rssPoll)
	defer t.Stop()
	pid := strconv.Itoa(p.cmd.Process.Pid)
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		rss, err := statusKiB(pid, "VmRSS")
		if err != nil {
			continue
		}
		if rss > p.peakKiB.Load() {
			p.peakKiB.Store(rss)
		}
		if p.limitKiB > 0 && rss > p.limitKiB && !p.overRSS.Swap(true) {
			p.cmd.Process.Kill()
		}
	}
}

// next returns the next line, failing after timeout or at the end of
// the output.
func (p *proc) next(timeout time.Duration) (Line, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			return Line{}, p.exitError()
		}
		if l.Result != nil {
			p.results.Store(true)
		}
		return l, nil
	case <-t.C:
		return Line{}, fmt.Errorf("%s: no answer in %v", p.name, timeout)
	}
}

// exitError explains why the process ended without a result.
func (p *proc) exitError() error {
	if p.overRSS.Load() {
		return fmt.Errorf("%s: killed: RSS over %d MiB", p.name, p.limitKiB>>10)
	}
	if p.err == nil {
		return fmt.Errorf("%s: exited without a result", p.name)
	}
	return fmt.Errorf("%s: %w", p.name, p.err)
}

// expect reads the next line and checks that it is a ready line
// (ready) or a result.
func (p *proc) expect(ready bool, timeout time.Duration) (Line, error) {
	l, err := p.next(timeout)
	switch {
	case err != nil:
		return l, err
	case ready && l.Result != nil && l.Result.Error != "":
		return l, fmt.Errorf("%s: %s", p.name, l.Result.Error)
	case ready && !l.Ready, !ready && l.Result == nil:
		return l, fmt.Errorf("%s: unexpected %+v", p.name, l)
	}
	return l, nil
}

// reported tells whether the process sent its result, which explains
// a failing exit.
func (p *proc) reported() bool { return p.results.Load() }

// order writes one order line; closeInput ends the input (stop).
func (p *proc) order(s string) error { _, err := io.WriteString(p.stdin, s+"\n"); return err }
func (p *proc) closeInput() error    { return p.stdin.Close() }

func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// stop waits up to grace for the process to exit, kills it after, and
// waits for its goroutines. It returns the exit error, if any.
func (p *proc) stop(grace time.Duration) error {
	p.closeInput()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Signal(syscall.SIGCONT)
		p.cmd.Process.Kill()
		for range p.lines { // let read reach the end and wait
		}
	}
	p.wg.Wait()
	return p.err
}

// workerEnv is the driver's environment with the measurement's zmp
// runtime directory, and without a registry address that would lead
// workers elsewhere.
func workerEnv(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ZMP_REGISTRY=") && !strings.HasPrefix(kv, "ZMP_RUNTIME_DIR=") {
			env = append(env, kv)
		}
	}
	return append(env, "ZMP_RUNTIME_DIR="+dir)
}

// lockedWriter serialises writes of whole lines to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

// prefixWriter writes whole lines to w, each prefixed.
type prefixWriter struct {
	w      *lockedWriter
	prefix string
	buf    []byte
}

func newPrefixWriter(w *lockedWriter, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: prefix}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.w.printf("%s%s\n", p.prefix, p.buf[:i])
		p.buf = p.buf[i+1:]
	}
}
