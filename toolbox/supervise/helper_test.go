package supervise

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
)

// envHelper asks a re-executed test binary to be a helper process.
const envHelper = "ZMP_SUPERVISE_HELPER"

// runHelper runs the helper the environment asks for and returns its
// exit code; isHelper is false in an ordinary test run.
func runHelper() (code int, isHelper bool) {
	switch h := os.Getenv(envHelper); h {
	case "":
		return 0, false
	case "orphans":
		if err := runOrphanHelper(); err != nil {
			fmt.Fprintln(os.Stderr, "orphans helper:", err)
			return 1, true
		}
		return 0, true
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", h)
		return 2, true
	}
}

// runOrphanHelper supervises three calc child processes, writes their
// PIDs to $ZMP_SUPERVISE_DIR/pids and waits to be killed.
func runOrphanHelper() error {
	dir := os.Getenv(envTestDir)
	reg, err := core.NewDirRegistry(filepath.Join(dir, "reg"))
	if err != nil {
		return err
	}
	var specs []Spec
	for i := range 3 {
		name := fmt.Sprintf("orphan-%d", i)
		n, err := testLauncher.NewNode("calc", name, core.WithRegistry(reg), core.WithOutput(io.Discard))
		if err != nil {
			return err
		}
		specs = append(specs, Spec{Name: name, Child: n})
	}
	s, err := New("helper", OneForOne, specs, WithLogger(quietLogger()))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		return err
	}
	var pids []string
	for _, c := range s.Children() {
		pids = append(pids, fmt.Sprint(c.PID))
	}
	tmp := filepath.Join(dir, "pids.tmp")
	if err := os.WriteFile(tmp, []byte(strings.Join(pids, "\n")), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "pids")); err != nil {
		return err
	}
	<-ctx.Done() // the test kills this process long before
	return s.Close()
}
