package consensus

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// Pipelining: a leader keeps up to the pipeline's depth of
// AppendEntries in flight to one follower. core may run a service's
// requests on several handlers, in any order, so each pipelined request
// carries its pipeline's id and a sequence number, and the follower's
// handler hands it to raft only after its predecessor (pipeSequencer).
// Responses reach raft in the order sent (appendPipeline.order).

// appendFuture is one pipelined AppendEntries.
type appendFuture struct {
	start time.Time
	req   *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	err   error
	done  chan struct{}
}

func (f *appendFuture) Error() error {
	<-f.done
	return f.err
}
func (f *appendFuture) Start() time.Time                      { return f.start }
func (f *appendFuture) Request() *raft.AppendEntriesRequest   { return f.req }
func (f *appendFuture) Response() *raft.AppendEntriesResponse { return f.resp }

// appendPipeline implements raft.AppendPipeline over calls to the
// append service.
type appendPipeline struct {
	t      *Transport
	target raft.ServerAddress
	id     uint64
	seq    uint64 // last sequence number sent; under mu
	mu     sync.Mutex

	slots    chan struct{}      // one per request in flight: the depth
	order    chan *appendFuture // futures in the order sent
	consumer chan raft.AppendFuture
	ctx      context.Context
	cancel   context.CancelFunc
	once     sync.Once
	wg       sync.WaitGroup
}

// AppendEntriesPipeline returns a pipeline of AppendEntries to target
// with up to WithPipelineDepth requests in flight, or
// raft.ErrPipelineReplicationNotSupported when the depth is 0 (the
// default). raft
// uses it once a plain AppendEntries to the follower has succeeded, and
// falls back to plain ones after any error.
func (t *Transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.cfg.pipelineDepth == 0 {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	if !t.enter() {
		return nil, fmt.Errorf("consensus: pipeline to %s: %w", target, raft.ErrTransportShutdown)
	}
	defer t.leave()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("consensus: pipeline id: %w", err)
	}
	d := t.cfg.pipelineDepth
	p := &appendPipeline{t: t, target: target, id: binary.LittleEndian.Uint64(b[:]),
		slots: make(chan struct{}, d), order: make(chan *appendFuture, d), consumer: make(chan raft.AppendFuture, d)}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	if !p.goFunc(p.deliver) {
		p.cancel()
		return nil, fmt.Errorf("consensus: pipeline to %s: %w", target, raft.ErrTransportShutdown)
	}
	t.stats.pipelines.Add(1)
	return p, nil
}

// AppendEntries sends args, waiting while the pipeline is full, and
// returns its future; resp is filled when the future is done.
func (p *appendPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	select {
	case p.slots <- struct{}{}:
	case <-p.ctx.Done():
		return nil, fmt.Errorf("consensus: pipeline to %s: %w", p.target, raft.ErrPipelineShutdown)
	}
	f := &appendFuture{start: time.Now(), req: args, resp: resp, done: make(chan struct{})}
	p.mu.Lock()
	p.seq++
	body := encodePipedAppendRequest(p.id, p.seq, args)
	p.mu.Unlock()
	if !p.goFunc(func() { p.send(f, body) }) {
		<-p.slots
		return nil, fmt.Errorf("consensus: pipeline to %s: %w", p.target, raft.ErrPipelineShutdown)
	}
	p.order <- f // never blocks: order has a place per slot
	return f, nil
}

// goFunc runs f on a goroutine that both the pipeline's Close and the
// transport's wait for; false, without running it, once either closed.
func (p *appendPipeline) goFunc(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil || !p.t.enter() {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.t.leave()
		defer p.wg.Done()
		f()
	}()
	return true
}

// send makes one call and completes f.
func (p *appendPipeline) send(f *appendFuture, body []byte) {
	defer close(f.done)
	c := &p.t.stats.append
	c.sent.Add(1)
	ctx, cancel := context.WithTimeout(p.ctx, p.t.cfg.rpcTimeout)
	defer cancel()
	reply, err := p.t.peer.Call(ctx, p.t.svc(svcAppend), body, core.At(string(p.target)))
	if err == nil {
		err = decodeAppendResponse(reply, f.resp)
	}
	if err != nil {
		c.failed.Add(1)
		f.err = fmt.Errorf("consensus: pipelined AppendEntries to %s: %w", p.target, err)
	}
}

// deliver hands futures to the consumer in the order sent, each once
// done, and frees its slot.
func (p *appendPipeline) deliver() {
	for {
		select {
		case f := <-p.order:
			select {
			case <-f.done:
			case <-p.ctx.Done():
				return
			}
			select {
			case p.consumer <- f:
			case <-p.ctx.Done():
				return
			}
			<-p.slots
		case <-p.ctx.Done():
			return
		}
	}
}

// Consumer returns the futures in the order their requests were sent.
func (p *appendPipeline) Consumer() <-chan raft.AppendFuture { return p.consumer }

// Close cancels the requests in flight and waits for the pipeline's
// goroutines. It is idempotent.
func (p *appendPipeline) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.cancel()
		p.mu.Unlock()
		p.wg.Wait()
	})
	return nil
}

// pipeSequencers is how many pipelines a follower keeps the sequence
// of; a leader opens a new one after each error, and an evicted one
// only costs its requests their order (raft rejects what does not fit).
const pipeSequencers = 16

// pipeSequencer orders one pipeline's requests on the follower.
type pipeSequencer struct {
	next uint64        // the sequence number whose turn it is
	wake chan struct{} // closed and replaced when next moves
	used time.Time
}

// pipeSequencers holds a follower's sequencers, the oldest evicted.
type pipeSequencerSet struct {
	mu   sync.Mutex
	seqs map[uint64]*pipeSequencer
}

// get returns the sequencer of pipeline id, creating it at sequence 1.
func (s *pipeSequencerSet) get(id uint64) *pipeSequencer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seqs == nil {
		s.seqs = make(map[uint64]*pipeSequencer)
	}
	q, ok := s.seqs[id]
	if !ok {
		if len(s.seqs) >= pipeSequencers {
			s.evictOldest()
		}
		q = &pipeSequencer{next: 1, wake: make(chan struct{})}
		s.seqs[id] = q
	}
	q.used = time.Now()
	return q
}

func (s *pipeSequencerSet) evictOldest() {
	var oldest uint64
	var at time.Time
	for id, q := range s.seqs {
		if at.IsZero() || q.used.Before(at) {
			oldest, at = id, q.used
		}
	}
	delete(s.seqs, oldest)
}

// await waits until seq's turn in q, or ctx's end (an error). A
// sequence number already past is refused.
func (s *pipeSequencerSet) await(ctx context.Context, q *pipeSequencer, seq uint64, done <-chan struct{}) error {
	for {
		s.mu.Lock()
		next, wake := q.next, q.wake
		s.mu.Unlock()
		switch {
		case next == seq:
			return nil
		case next > seq:
			return badRequest(fmt.Errorf("consensus: pipelined request %d after %d", seq, next-1))
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return core.NewError(core.CodeDeadlineExceeded, "consensus: pipelined request %d: its predecessors did not arrive", seq)
		case <-done:
			return core.NewError(core.CodeUnavailable, "consensus: transport closed")
		}
	}
}

// advance passes the turn to seq+1, when seq's turn it was.
func (s *pipeSequencerSet) advance(q *pipeSequencer, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.next == seq {
		q.next++
		close(q.wake)
		q.wake = make(chan struct{})
	}
}
