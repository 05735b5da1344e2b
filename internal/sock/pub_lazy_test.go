package sock

import (
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// PublishFunc builds a message only when some subscriber will queue it:
// once a never-reading subscriber's queue is full, publishing to it
// alone builds nothing, and every attempt is still counted as a drop.
func TestPublishFuncBuildsOnlyWhatIsQueued(t *testing.T) {
	p := startPub(t, "tcp://127.0.0.1:0", PubConfig{Link: LinkConfig{QueueLen: 4}})
	slow, err := Dial(testContext(t, 10*time.Second), p.Endpoint(), zmtp.Config{Type: zmtp.Sub}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })
	if err := slow.WriteMessage([][]byte{{1}}); err != nil { // subscribe to everything
		t.Fatal(err)
	}
	if err := slow.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return publish(p, "probe") == 1 })

	big := make([]byte, 1<<20) // fills the socket buffers quickly
	builds := 0
	build := func() [][]byte { builds++; return [][]byte{[]byte("t"), big} }
	publish := func() int {
		_, dropped := p.PublishFunc([]byte("t"), int64(len(big)+1), build)
		return dropped
	}
	waitFor(t, 20*time.Second, func() bool { // until the queue stays full: the writer is stuck
		if publish() != 1 {
			return false
		}
		sent := sentToSubscribers(p)
		time.Sleep(50 * time.Millisecond)
		return publish() == 1 && sentToSubscribers(p) == sent
	})
	before, droppedBefore := builds, p.Stats().Dropped
	for range 1000 {
		if m, d := p.PublishFunc([]byte("t"), int64(len(big)+1), build); m != 1 || d != 1 {
			t.Fatalf("matched %d dropped %d, want 1 and 1", m, d)
		}
	}
	if builds != before {
		t.Fatalf("%d messages built for a full queue", builds-before)
	}
	if got := p.Stats().Dropped - droppedBefore; got != 1000 {
		t.Fatalf("%d drops counted, want 1000", got)
	}
}

// sentToSubscribers sums what p's links have written.
func sentToSubscribers(p *Pub) uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var n uint64
	for l := range p.peers {
		n += l.Stats().Sent
	}
	return n
}
