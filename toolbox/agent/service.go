package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/gozmp/zmp/core"
)

// Bounds of the agent's own services.
const (
	// startConcurrency bounds the starts, stops and restarts handled
	// at once (each waits for a process); startQueue those waiting.
	startConcurrency = 8
	startQueue       = 64
	// logBatch is how many lines one write to a logs stream carries.
	logBatch = 256
	// logChunk is the chunk of logs streams: small, so that a caller
	// that does not read holds little (StreamWindow chunks).
	logChunk = 16 << 10
)

// codeNames name the codes in Counts.Refused.
var codeNames = map[core.Code]string{
	CodeBadRequest: "bad_request", CodeUnknownKind: "unknown_kind", CodeBadArgs: "bad_args",
	CodeTooManyNodes: "too_many_nodes", CodeBadName: "bad_name", CodeTooLarge: "too_large",
	CodeConflict: "conflict", CodeNotFound: "not_found", CodeStartFailed: "start_failed",
	CodeNameTaken: "name_taken", CodeClosed: "closed",
}

// serve registers the agent's services on p.
func (a *Agent) serve(p *core.Peer) error {
	handlers := []struct {
		name string
		h    func(ctx context.Context, body []byte) (any, error)
	}{
		{ServiceStart, a.serveStart},
		{ServiceStop, func(ctx context.Context, body []byte) (any, error) { return a.serveName(ctx, body, a.stop) }},
		{ServiceRestart, func(ctx context.Context, body []byte) (any, error) { return a.serveName(ctx, body, a.restart) }},
		{ServicePS, func(_ context.Context, body []byte) (any, error) { return a.Nodes(), decodeEmpty(body) }},
		{ServiceStatus, func(_ context.Context, body []byte) (any, error) { return a.Status(), decodeEmpty(body) }},
	}
	var errs []error
	for _, h := range handlers {
		errs = append(errs, p.HandleFunc(h.name, a.handler(h.h)))
	}
	for _, s := range []string{ServiceStart, ServiceStop, ServiceRestart} {
		errs = append(errs, p.SetServiceLimits(s, core.ServiceLimits{Concurrency: startConcurrency, Queue: startQueue}))
	}
	errs = append(errs, p.HandleStream(ServiceLogs, core.StreamHandlerFunc(a.serveLogs),
		core.StreamChunk(logChunk), core.StreamLimits(a.cfg.logStreams[0], a.cfg.logStreams[1]),
		core.StreamIdleTimeout(a.cfg.logIdle)))
	_, err := p.AddStats("agent", func() any { return a.Status() })
	return errors.Join(append(errs, err)...)
}

// handler adapts one of the agent's handlers: it encodes the reply as
// JSON and turns the agent's errors into coded remote errors, counted.
func (a *Agent) handler(h func(ctx context.Context, body []byte) (any, error)) core.HandlerFunc {
	return func(ctx context.Context, req *core.Request) ([]byte, error) {
		v, err := h(ctx, req.Body)
		if err != nil {
			return nil, a.refuse(err)
		}
		return marshal(v), nil
	}
}

// refuse counts an error the agent answers with and returns it as a
// remote error.
func (a *Agent) refuse(err error) error {
	var ce *codedError
	if errors.As(err, &ce) {
		a.stats.mu.Lock()
		if a.stats.refused == nil {
			a.stats.refused = map[string]int64{}
		}
		a.stats.refused[codeNames[ce.code]]++
		a.stats.mu.Unlock()
	}
	return toRemote(err)
}

func (a *Agent) serveStart(ctx context.Context, body []byte) (any, error) {
	spec, err := decodeStart(body, a.cfg.maxArgs, a.cfg.maxArgBytes)
	if err != nil {
		return nil, err
	}
	return a.place(ctx, spec)
}

func (a *Agent) serveName(ctx context.Context, body []byte, op func(context.Context, string) (NodeStatus, error)) (any, error) {
	name, err := decodeName(body)
	if err != nil {
		return nil, err
	}
	return op(ctx, name)
}

// serveLogs streams a node's output: the last lines kept, then, when
// following, new lines as they come, until the node is stopped, the
// caller closes the stream, or the agent closes. A follower that falls
// behind the ring is told how many lines it missed.
func (a *Agent) serveLogs(ctx context.Context, req *core.StreamRequest) ([]byte, error) {
	r, err := decodeLogs(req.Header)
	if err != nil {
		return nil, a.refuse(err)
	}
	e, err := a.lookup(r.Name)
	if err != nil {
		return nil, a.refuse(err)
	}
	var buf bytes.Buffer
	for seq := e.logs.tailStart(r.Tail); ; {
		rd := e.logs.since(seq, logBatch)
		buf.Reset()
		if rd.missed > 0 {
			fmt.Fprintf(&buf, "[zmp-agent] %d lines dropped before this reader got them\n", rd.missed)
		}
		for _, l := range rd.lines {
			buf.WriteString(l)
			buf.WriteByte('\n')
		}
		if buf.Len() > 0 {
			if _, err := req.Reply.Write(buf.Bytes()); err != nil {
				return nil, err
			}
		}
		seq = rd.next
		switch {
		case len(rd.lines) == logBatch:
			continue // more may be ready
		case !r.Follow || rd.closed:
			return nil, nil
		}
		select {
		case <-rd.changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-a.ctx.Done():
			return nil, nil
		}
	}
}
