package consensus

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Environment of a re-executed test binary running a store helper.
const (
	stHelperEnv  = "ZMP_CONSENSUS_ST_HELPER"
	stDirEnv     = "ZMP_CONSENSUS_ST_DIR"
	stBackendEnv = "ZMP_CONSENSUS_ST_BACKEND"
)

// stRunHelperProcess runs the store helper the environment names, when
// the test binary was re-executed as a child process, and reports
// whether it did. Errors go to stderr, which the parent test shows.
func stRunHelperProcess() bool {
	var run func(dir string, b Backend) error
	switch os.Getenv(stHelperEnv) {
	case "":
		return false
	case "writer":
		run = stChildWriter
	case "holder":
		run = stChildHolder
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Getenv(stHelperEnv))
		return true
	}
	b := BackendWAL
	if os.Getenv(stBackendEnv) == BackendBolt.String() {
		b = BackendBolt
	}
	if err := run(os.Getenv(stDirEnv), b); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
	}
	return true
}

// stChildWriter appends batches of logs for ever (until killed), then
// sets the stable key stTermKey to the batch's last index, and prints
// "ack <index>" once both calls returned nil.
func stChildWriter(dir string, b Backend) error {
	s, err := OpenStore(dir, WithBackend(b))
	if err != nil {
		return err
	}
	defer s.Close()
	last, err := s.Log().LastIndex()
	if err != nil {
		return err
	}
	for idx := last + 1; ; {
		batch := make([]*raft.Log, 1+idx%7)
		for i := range batch {
			batch[i] = stLog(idx)
			idx++
		}
		if err := s.Log().StoreLogs(batch); err != nil {
			return err
		}
		if err := s.Stable().SetUint64([]byte(stTermKey), idx-1); err != nil {
			return err
		}
		// One write of a short line: the pipe delivers it whole.
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", idx-1); err != nil {
			return err
		}
	}
}

// stChildHolder opens the store, prints "locked", and closes it when its
// stdin ends.
func stChildHolder(dir string, b Backend) error {
	s, err := OpenStore(dir, WithBackend(b))
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, "locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return s.Close()
}

// stTermKey is the stable key the writer child sets.
const stTermKey = "CurrentTerm"

// stLog returns the log entry the tests store at idx: 100 bytes that
// depend on idx, so a read-back proves which entry it is.
func stLog(idx uint64) *raft.Log {
	return &raft.Log{Index: idx, Term: 1 + idx/1000, Type: raft.LogCommand, Data: stPayload(idx)}
}

func stPayload(idx uint64) []byte {
	p := bytes.Repeat([]byte{byte(idx)}, 100)
	binary.BigEndian.PutUint64(p, idx)
	return p
}

// stHelperCmd returns the test binary re-executed as helper on dir.
func stHelperCmd(t *testing.T, helper, dir string, b Backend) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		stHelperEnv+"="+helper, stDirEnv+"="+dir, stBackendEnv+"="+b.String())
	cmd.Stderr = &stTestWriter{t: t}
	return cmd
}

// stTestWriter logs a child's stderr lines to the test.
type stTestWriter struct{ t *testing.T }

func (w *stTestWriter) Write(p []byte) (int, error) {
	w.t.Logf("child stderr: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// stReadLines sends each complete line of r to the returned channel and
// closes it at EOF; a last fragment without a newline is dropped (a
// line cut by a kill was not acknowledged).
func stReadLines(r io.Reader) <-chan string {
	ch := make(chan string, 1024)
	go func() {
		defer close(ch)
		br := bufio.NewReader(r)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			ch <- strings.TrimSuffix(line, "\n")
		}
	}()
	return ch
}

// stBackends is the table every backend test runs over.
func stBackends() []Backend { return []Backend{BackendWAL, BackendBolt} }

// stQuietLogger discards raft's log lines.
func stQuietLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off})
}

// stOpen opens a store in dir and closes it at the end of the test.
func stOpen(t testing.TB, dir string, opts ...StoreOption) *Store {
	t.Helper()
	s, err := OpenStore(dir, opts...)
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
