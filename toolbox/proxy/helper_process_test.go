package proxy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// Environment of a helper process: the test binary re-executed as a
// worker that really runs in another process.
const (
	helperEnv      = "ZMP_PROXY_TEST_HELPER"
	helperEndpoint = "ZMP_PROXY_TEST_ENDPOINT"
	helperName     = "ZMP_PROXY_TEST_NAME"
)

// runHelperProcess runs the helper the environment asks for and
// reports whether it did; the caller then returns from TestMain.
func runHelperProcess() bool {
	switch os.Getenv(helperEnv) {
	case "queue-worker":
		runHelperWorker(false)
	case "broker-worker":
		runHelperWorker(true)
	default:
		return false
	}
	return true
}

// runHelperWorker serves requests until SIGTERM: "sleep" blocks until
// killed (the test kills it mid-request); anything else is echoed with
// the worker's name.
func runHelperWorker(broker bool) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	name := os.Getenv(helperName)
	h := HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
		if string(body[0]) == "sleep" && name == "victim" {
			fmt.Println("busy")
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return [][]byte{[]byte(name + ":" + string(body[0]))}, nil
	})
	var (
		w   *Worker
		err error
	)
	opts := []Option{fastHeartbeat, WithReconnect(20*time.Millisecond, 200*time.Millisecond)}
	if broker {
		w, err = NewServiceWorker(os.Getenv(helperEndpoint), "work", h, opts...)
	} else {
		w, err = NewWorker(os.Getenv(helperEndpoint), h, opts...)
	}
	if err != nil {
		fmt.Println("error", err)
		return
	}
	fmt.Println("started")
	<-ctx.Done()
	w.Close()
}

// startHelperWorker runs a worker process connected to endpoint; its
// stdout lines arrive on the returned channel.
func startHelperWorker(t *testing.T, kind, endpoint, name string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+kind, helperEndpoint+"="+endpoint, helperName+"="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		readLines(out, lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		<-done
	})
	return cmd, lines
}

func expectLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok || l != want {
			t.Fatalf("helper printed %q (open %v), want %q", l, ok, want)
		}
	case <-time.After(wait):
		t.Fatalf("helper did not print %q", want)
	}
}
