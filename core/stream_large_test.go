package core

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// streamRSSBudget is how far the provider's and the caller's resident
// memory may each rise while 512 MiB cross; streamRaceRSSBudget, with
// the race detector.
const (
	streamRSSBudget     = 64 << 20
	streamRaceRSSBudget = 192 << 20
)

// envStreamHelper, set, makes TestStreamHelperProvider the provider of
// TestStreamLarge512MiB in a child process: "transport registry-dir
// runtime-dir".
const envStreamHelper = "ZMP_STREAM_HELPER"

// 512 MiB cross each way over tcp and ipc between a provider in a
// child process and a caller in this one, the resident memory of each
// staying within streamRSSBudget of where it began. With the race
// detector (10 MiB/s at best here) 64 MiB cross instead, within
// streamRaceRSSBudget: its runtime's shadow memory multiplies the heap
// ("memory usage may increase by 5-10x", its documentation says).
func TestStreamLarge512MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB per transport")
	}
	hostileEnv(t)
	size, budget := int64(512<<20), uint64(streamRSSBudget)
	if raceBuild() {
		size, budget = 64<<20, streamRaceRSSBudget
	}
	eachTransport(t, func(t *testing.T, e *tenv) {
		srvPID := startStreamProvider(t, e)
		sp := &streamPair{cli: e.peer("caller")}
		ctx := e.ctx(10 * time.Minute)
		sum := patternSum(t, 9, size)
		mib := size >> 20
		for _, dir := range []string{"upload", "download"} {
			runtime.GC()
			debug.FreeOSMemory()
			cw, sw := sampleMem(t, os.Getpid(), 5*time.Millisecond), sampleMem(t, srvPID, 5*time.Millisecond)
			start := time.Now()
			if dir == "upload" {
				checkLargeUpload(t, ctx, sp, sum, size)
			} else {
				sp.checkDownloadSum(t, ctx, 9, size, sum)
			}
			took := time.Since(start)
			cg, sg := cw.rssGrowth(), sw.rssGrowth()
			t.Logf("%s of %d MiB over %s: %v, %.0f MiB/s; RSS above baseline at peak: caller %d MiB (of %d), provider %d MiB (of %d); budget %d MiB each",
				dir, mib, e.tr, took.Round(time.Millisecond), float64(mib)/took.Seconds(), cg>>20, cw.base.RSS>>20, sg>>20, sw.base.RSS>>20, budget>>20)
			if cg > budget || sg > budget {
				t.Errorf("%s: RSS rose by %d MiB (caller) and %d MiB (provider), budget %d MiB", dir, cg>>20, sg>>20, budget>>20)
			}
		}
	})
}

func checkLargeUpload(t *testing.T, ctx context.Context, sp *streamPair, sum [32]byte, size int64) {
	t.Helper()
	reply, err := sp.cli.Upload(ctx, "up", []byte("big"), patternReader(9, size))
	if err != nil {
		t.Fatal(err)
	}
	if want := formatSum("big", size, sum); string(reply) != want {
		t.Fatalf("reply %q, want %q", reply, want)
	}
}

// startStreamProvider runs TestStreamHelperProvider in a child process
// of this test binary, providing "up" and "down" in e, and returns its
// pid once it serves. The child ends when the test does.
func startStreamProvider(t *testing.T, e *tenv) int {
	t.Helper()
	dir, ok := e.reg.(*DirRegistry)
	if !ok {
		t.Fatalf("registry %T is not a directory", e.reg)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStreamHelperProvider$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s", envStreamHelper, e.tr, dir.Dir(), cmpOr(e.dir, "-")))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the child's signal to stop
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "serving" {
		t.Fatalf("stream provider child: %q, %v", line, err)
	}
	go io.Copy(io.Discard, stdout)
	return cmd.Process.Pid
}

// TestStreamHelperProvider is the provider of TestStreamLarge512MiB
// when run as its child; it does nothing otherwise.
func TestStreamHelperProvider(t *testing.T) {
	arg := os.Getenv(envStreamHelper)
	if arg == "" {
		t.Skip("the child process of TestStreamLarge512MiB")
	}
	var tr, regDir, runDir string
	if _, err := fmt.Sscan(arg, &tr, &regDir, &runDir); err != nil {
		t.Fatal(err)
	}
	reg, err := NewDirRegistry(regDir)
	if err != nil {
		t.Fatal(err)
	}
	opts := []Option{WithRegistry(reg), WithTransport(Transport(tr))}
	if runDir != "-" {
		opts = append(opts, WithRuntimeDir(runDir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := NewPeer(ctx, "streamer", opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.HandleStream("up", StreamHandlerFunc(sumHandler)); err != nil {
		t.Fatal(err)
	}
	if err := p.HandleStream("down", StreamHandlerFunc(patternHandler)); err != nil {
		t.Fatal(err)
	}
	fmt.Println("serving")
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
}
