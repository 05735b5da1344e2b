package core

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func TestNodeGone(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("process tables are read on Linux only")
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	live := NodeInfo{Name: "n", PID: cmd.Process.Pid, Host: host, Started: before}
	if NodeGone(live) {
		t.Fatal("a live process is taken as gone")
	}
	reused := live
	reused.Started = before.Add(-time.Hour) // the node started long before this process
	if !NodeGone(reused) {
		t.Fatal("a PID reused by a later process is taken as the node's")
	}
	elsewhere := live
	elsewhere.Host = host + "-elsewhere"
	elsewhere.Started = reused.Started
	if NodeGone(elsewhere) {
		t.Fatal("a node of another host is judged")
	}
	self := NodeInfo{PID: os.Getpid(), Host: host, Started: before.Add(-time.Hour)}
	if NodeGone(self) {
		t.Fatal("this process is taken as gone")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !NodeGone(live) {
		t.Fatal("a dead process is taken as alive")
	}
	if NodeGone(NodeInfo{Host: host, Started: before}) {
		t.Fatal("a node without a PID is judged")
	}
}
