package core

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// Node kinds of hostile_test.go: a server to attack, run as a child
// process so that its memory can be read from /proc and a crash shows
// as the process dying, and a caller to kill in mid-call.

// hostileTopic is the topic a hostile node publishes.
const hostileTopic = "t"

// bigReply is the size of a "big" reply.
const bigReply = 1 << 20

// hostileKind serves:
//
//	add        the typed addition of calc (also pid and cfg)
//	sleep      body "<ms>[,<reply bytes>][anything]": sleeps ms, or
//	           until its context ends, and replies that many bytes
//	           ("ok" by default); what follows the numbers is ignored,
//	           so a request can be padded to any size
//	ran        JSON hostileRan: how many sleep handlers started
//	big        a fresh 1 MiB reply whose pages are all touched
//	block      blocks until its context ends
//	cancelled  JSON hostileBlocks: how the block handlers ended
//	publish    body "<n>": publishes n 64-byte messages on topic "t"
//	           and replies JSON hostilePublish
//
// and advertises topic "t".
func hostileKind() Behavior {
	h := &hostileState{ran: hostileRan{Sleep: map[string]int64{}}}
	return Behavior{Setup: func(_ context.Context, p *Peer) error { return h.provide(p) }}
}

// hostileRan counts the sleep handlers that started, by the ms they were
// asked for, and those whose deadline had passed when they started.
type hostileRan struct {
	Sleep   map[string]int64 `json:"sleep"`
	Expired int64            `json:"expired"`
}

// hostileBlocks says how the block handlers ended.
type hostileBlocks struct {
	Started int `json:"started"`
	Ended   int `json:"ended"`
	// LastEnd is when the last context ended, in Unix nanoseconds.
	LastEnd int64 `json:"last_end"`
	// Held is the longest time a block handler ran.
	Held time.Duration `json:"held"`
	// Errs counts the ctx.Err texts the contexts ended with.
	Errs map[string]int `json:"errs"`
}

// hostilePublish is the reply of the publish service.
type hostilePublish struct {
	N     int           `json:"n"`
	Max   time.Duration `json:"max"`   // the longest Publish
	Total time.Duration `json:"total"` // all of them
}

type hostileState struct {
	mu     sync.Mutex
	ran    hostileRan
	blocks hostileBlocks
}

func (h *hostileState) provide(p *Peer) error {
	if err := provideCalc(p); err != nil {
		return err
	}
	if err := p.Advertise(hostileTopic); err != nil {
		return err
	}
	handlers := map[string]func(ctx context.Context, r *Request) ([]byte, error){
		"sleep":     h.sleep,
		"ran":       func(context.Context, *Request) ([]byte, error) { return h.report(&h.ran) },
		"big":       func(context.Context, *Request) ([]byte, error) { return bytes.Repeat([]byte{0xa5}, bigReply), nil },
		"block":     h.block,
		"cancelled": func(context.Context, *Request) ([]byte, error) { return h.report(&h.blocks) },
		"publish":   func(_ context.Context, r *Request) ([]byte, error) { return publishBurst(p, r.Body) },
	}
	for name, f := range handlers {
		if err := p.HandleFunc(name, f); err != nil {
			return err
		}
	}
	return nil
}

// report marshals v under the lock.
func (h *hostileState) report(v any) ([]byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return json.Marshal(v)
}

func (h *hostileState) sleep(ctx context.Context, r *Request) ([]byte, error) {
	ms, rest := leadingInt(r.Body)
	size := 2
	if len(rest) > 0 && rest[0] == ',' {
		size, _ = leadingInt(rest[1:])
	}
	h.mu.Lock()
	h.ran.Sleep[strconv.Itoa(ms)]++
	if !r.Deadline.IsZero() && !time.Now().Before(r.Deadline) {
		h.ran.Expired++
	}
	h.mu.Unlock()
	if ms > 0 && !sleepCtx(ctx, time.Duration(ms)*time.Millisecond) {
		return nil, ctx.Err()
	}
	if size == 2 {
		return []byte("ok"), nil
	}
	return bytes.Repeat([]byte{'z'}, size), nil
}

func (h *hostileState) block(ctx context.Context, _ *Request) ([]byte, error) {
	start := time.Now()
	h.mu.Lock()
	h.blocks.Started++
	h.mu.Unlock()
	<-ctx.Done()
	end := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	b := &h.blocks
	b.Ended++
	b.LastEnd = max(b.LastEnd, end.UnixNano())
	b.Held = max(b.Held, end.Sub(start))
	if b.Errs == nil {
		b.Errs = map[string]int{}
	}
	b.Errs[ctx.Err().Error()]++
	return nil, ctx.Err()
}

// leadingInt parses the decimal digits at the start of b.
func leadingInt(b []byte) (n int, rest []byte) {
	i := 0
	for i < len(b) && i < 9 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	return n, b[i:]
}

// publishBurst publishes n messages on hostileTopic, timing each Publish.
func publishBurst(p *Peer, body []byte) ([]byte, error) {
	n, _ := leadingInt(body)
	data := make([]byte, 64)
	var r hostilePublish
	for range n {
		start := time.Now()
		if err := p.Publish(hostileTopic, data); err != nil {
			return nil, err
		}
		d := time.Since(start)
		r.N++
		r.Max = max(r.Max, d)
		r.Total += d
	}
	return json.Marshal(r)
}

// hostileCallerKind calls "block" from hostileCallers goroutines, each
// with a 5 s deadline, as soon as it has started, and again whenever a
// call ends. A test kills it with SIGKILL while the calls are held.
func hostileCallerKind() Behavior {
	var wg sync.WaitGroup
	return Behavior{
		Setup: func(ctx context.Context, p *Peer) error {
			for range hostileCallers {
				wg.Go(func() {
					for ctx.Err() == nil {
						callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
						p.Call(callCtx, "block", nil)
						cancel()
					}
				})
			}
			return nil
		},
		Teardown: func(context.Context, *Peer) error {
			wg.Wait()
			return nil
		},
	}
}

// hostileCallers is how many calls a hostile caller keeps in flight.
const hostileCallers = 8
