package agent

import (
	"bytes"
	"sync"
	"unicode/utf8"
)

// logRing keeps the last lines a node wrote (stdout and stderr, as
// core's launcher hands them over, one line per Write), bounded by a
// count of lines and a count of bytes: the oldest are dropped, and
// counted, to make room. A line longer than maxLine is cut there (and
// counted). Lines are numbered from 0 in the order written, so that a
// reader that follows knows what it missed. It is safe for concurrent
// use; it is the io.Writer given to the node with core.WithOutput.
type logRing struct {
	maxLines, maxBytes, maxLine int
	prefix                      []byte // "[name] ", added by core's launcher

	mu        sync.Mutex
	lines     []string // a ring of at most maxLines
	head      int      // index of the oldest line in lines
	n         int      // lines held
	bytes     int      // bytes held
	next      uint64   // number of the next line written
	partial   []byte   // a line not yet ended by '\n'
	dropped   int64
	truncated int64
	changed   chan struct{} // closed when a line is added or the ring closes
	closed    bool
}

func newLogRing(name string, maxLines, maxBytes, maxLine int) *logRing {
	return &logRing{
		maxLines: maxLines, maxBytes: maxBytes, maxLine: maxLine, prefix: []byte("[" + name + "] "),
		lines: make([]string, maxLines), changed: make(chan struct{}),
	}
}

// Write adds the complete lines of p; a last line without '\n' waits
// for the rest (at most maxLine bytes of it). It never fails and never
// blocks on readers.
func (r *logRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := max(0, r.maxLine+len(r.prefix)-len(r.partial))
			r.partial = append(r.partial, p[:min(len(p), room)]...)
			if len(p) > room {
				r.truncated++
			}
			break
		}
		line := p[:i]
		if len(r.partial) > 0 {
			line = append(r.partial, line...)
			r.partial = nil
		}
		r.addLocked(string(bytes.TrimPrefix(line, r.prefix)))
		p = p[i+1:]
	}
	return n, nil
}

// Note adds a line of the agent's own about the node.
func (r *logRing) Note(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked("[zmp-agent] " + line)
}

func (r *logRing) addLocked(line string) {
	if r.closed {
		return
	}
	if len(line) > r.maxLine {
		cut := r.maxLine
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut-- // not in the middle of a character
		}
		line = line[:cut]
		r.truncated++
	}
	for r.n > 0 && (r.n == r.maxLines || r.bytes+len(line) > r.maxBytes) {
		r.bytes -= len(r.lines[r.head])
		r.lines[r.head] = ""
		r.head = (r.head + 1) % r.maxLines
		r.n--
		r.dropped++
	}
	r.lines[(r.head+r.n)%r.maxLines] = line
	r.n++
	r.bytes += len(line)
	r.next++
	close(r.changed)
	r.changed = make(chan struct{})
}

// logRead is what a reader gets from since.
type logRead struct {
	lines   []string      // from the line asked for, or the oldest kept
	missed  uint64        // lines asked for that were dropped
	next    uint64        // the number to ask for next
	changed chan struct{} // closed when there is more, or the ring closes
	closed  bool          // no line will be added
}

// since returns the lines numbered from on (or the oldest kept, when
// from has been dropped), at most max of them.
func (r *logRing) since(from uint64, max int) logRead {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.next - uint64(r.n)
	out := logRead{changed: r.changed, closed: r.closed}
	if from < first {
		out.missed, from = first-from, first
	}
	if from > r.next {
		from = r.next
	}
	k := min(int(r.next-from), max)
	out.lines = make([]string, k)
	for i := range k {
		out.lines[i] = r.lines[(r.head+int(from-first)+i)%r.maxLines]
	}
	out.next = from + uint64(k)
	return out
}

// tailStart is the number of the first of the last n lines kept (all
// of them when n ≤ 0).
func (r *logRing) tailStart(n int) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := r.next - uint64(r.n)
	if n <= 0 || n >= r.n {
		return first
	}
	return r.next - uint64(n)
}

// stats returns the lines held, dropped and truncated.
func (r *logRing) stats() (held int, dropped, truncated int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n, r.dropped, r.truncated
}

// close ends the ring: readers that follow it return once they have
// read what it holds.
func (r *logRing) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if len(r.partial) > 0 {
		r.addLocked(string(bytes.TrimPrefix(r.partial, r.prefix)))
		r.partial = nil
	}
	r.closed = true
	close(r.changed)
}
