package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// The ring keeps the last lines within its bounds of lines and bytes,
// cuts long lines, strips the launcher's prefix, joins partial writes
// and tells a reader what it missed.
func TestLogRing(t *testing.T) {
	r := newLogRing("n", 4, 20, 8)
	fmt.Fprint(r, "[n] one\n[n] two\n")
	fmt.Fprint(r, "[n] thr")
	fmt.Fprint(r, "ee\n")
	if rd := r.since(0, 10); !slices.Equal(rd.lines, []string{"one", "two", "three"}) || rd.next != 3 || rd.missed != 0 {
		t.Fatalf("since(0) = %+v", rd)
	}
	fmt.Fprint(r, "[n] a line far too long\n") // cut to 8 bytes
	fmt.Fprint(r, "five\n")                    // a fifth line: "one" is dropped
	rd := r.since(0, 10)
	if !slices.Equal(rd.lines, []string{"two", "three", "a line f", "five"}) || rd.missed != 1 || rd.next != 5 {
		t.Fatalf("after the bound of lines: %+v", rd)
	}
	fmt.Fprint(r, "123456\n") // 3+5+8+4+6 = 26 > 20 bytes: "two" and "three" go
	if rd := r.since(0, 10); !slices.Equal(rd.lines, []string{"a line f", "five", "123456"}) || rd.missed != 3 {
		t.Fatalf("after the bound of bytes: %+v", rd)
	}
	if held, dropped, truncated := r.stats(); held != 3 || dropped != 3 || truncated != 1 {
		t.Errorf("stats = %d held, %d dropped, %d truncated", held, dropped, truncated)
	}
	if s := r.tailStart(2); s != 4 {
		t.Errorf("tailStart(2) = %d, want 4", s)
	}
	if s := r.tailStart(0); s != 3 {
		t.Errorf("tailStart(0) = %d, want 3", s)
	}
	if rd := r.since(6, 10); len(rd.lines) != 0 || rd.next != 6 || rd.closed {
		t.Fatalf("since(end) = %+v", rd)
	}
	changed := r.since(6, 10).changed
	r.Note("noted")
	select {
	case <-changed:
	default:
		t.Fatal("a new line does not wake readers")
	}
	fmt.Fprint(r, "[n] unfinished")
	r.close()
	rd = r.since(6, 10)
	if !slices.Equal(rd.lines, []string{"[zmp-age", "unfinish"}) || !rd.closed {
		t.Fatalf("after close: %+v", rd)
	}
	fmt.Fprint(r, "after\n")
	if rd := r.since(8, 10); len(rd.lines) != 0 {
		t.Errorf("written after close: %+v", rd)
	}
}

// A line cut at the bound is not cut in the middle of a character.
func TestLogRingCutsAtCharacters(t *testing.T) {
	r := newLogRing("n", 4, 100, 4)
	fmt.Fprint(r, "ab€€\n") // € is 3 bytes: the cut at 4 falls inside the first
	if rd := r.since(0, 1); !slices.Equal(rd.lines, []string{"ab"}) {
		t.Errorf("cut line = %q", rd.lines)
	}
}

// logs sends the last lines kept (all, or the tail), in text; with
// follow it goes on with new lines until the node is stopped.
func TestLogs(t *testing.T) {
	h := newHarness(t)
	h.start(Spec{Name: "ch", Kind: "chatty", Args: []string{"--lines", "10"}})
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	h.waitFor(10*time.Second, "10 lines", func() bool { return h.ps("ch").LogLines >= 10 })
	all := strings.Split(strings.TrimSuffix(readAll(t, must(h.client.Logs(h.ctx, "a1", LogsRequest{Name: "ch"}))), "\n"), "\n")
	slices.Sort(all)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("logs = %q", all)
	}
	tail := readAll(t, must(h.client.Logs(h.ctx, "a1", LogsRequest{Name: "ch", Tail: 3})))
	if n := strings.Count(tail, "\n"); n != 3 || !strings.HasPrefix(tail, "line ") {
		t.Errorf("tail 3 = %q", tail)
	}

	h.start(Spec{Name: "tk", Kind: "chatty", Args: []string{"--every", "20ms"}})
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	rc, err := h.client.Logs(ctx, "a1", LogsRequest{Name: "tk", Follow: true, Tail: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	var ticks []string
	for len(ticks) < 5 && sc.Scan() {
		ticks = append(ticks, sc.Text())
	}
	if len(ticks) < 5 || !strings.HasPrefix(ticks[4], "tick ") {
		t.Fatalf("followed %q, %v", ticks, sc.Err())
	}
	if _, err := h.client.Stop(h.ctx, "a1", "tk"); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // the rest, then the end
	}
	if err := sc.Err(); err != nil {
		t.Errorf("the followed stream ended with %v, want its end", err)
	}
	if _, err := readLogs(h, "tk"); !errors.Is(err, ErrNotFound) {
		t.Errorf("logs of a stopped node: %v, want ErrNotFound", err)
	}
}

// readLogs reads all of a node's logs, returning the stream's error.
func readLogs(h *harness, name string) (string, error) {
	rc, err := h.client.Logs(h.ctx, "a1", LogsRequest{Name: name})
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var b strings.Builder
	_, err = bufio.NewReader(rc).WriteTo(&b)
	return b.String(), err
}

// Lines beyond the agent's bounds are dropped and counted, in ps.
func TestLogsBounded(t *testing.T) {
	h := newHarness(t, WithLogLimits(5, 1000, 100))
	h.start(Spec{Name: "ch", Kind: "chatty", Args: []string{"--lines", "40"}})
	h.waitFor(10*time.Second, "40 lines", func() bool { st := h.ps("ch"); return int64(st.LogLines)+st.LogDropped >= 40 })
	st := h.ps("ch")
	if st.LogLines != 5 || st.LogDropped != 35 {
		t.Errorf("ring: %d lines, %d dropped", st.LogLines, st.LogDropped)
	}
	logs, err := readLogs(h, "ch")
	if err != nil || strings.Count(logs, "\n") != 5 {
		t.Errorf("logs = %q, %v", logs, err)
	}
	var re *core.RemoteError
	if _, err := readLogs(h, "nosuch"); !errors.Is(err, ErrNotFound) || !errors.As(err, &re) || re.Code != CodeNotFound {
		t.Errorf("logs nosuch = %v", err)
	}
}
