package core

import (
	"context"
	"fmt"

	"github.com/gozmp/zmp/internal/sock"
)

// The streams of a caller whose connection closes end at once, instead
// of waiting for the idle reaper. The peer knows the stream services
// that have streams open, and no others, so that it holds nothing once
// they end.

// trackStreams records that ss has a stream open.
func (p *Peer) trackStreams(ss *streamService) {
	p.streamMu.Lock()
	defer p.streamMu.Unlock()
	if p.streamSvcs == nil {
		p.streamSvcs = map[*streamService]struct{}{}
		p.srv.watchPeers(p.streamConnClosed)
	}
	p.streamSvcs[ss] = struct{}{}
}

// untrackStreams forgets ss, which has no stream open.
func (p *Peer) untrackStreams(ss *streamService) {
	p.streamMu.Lock()
	defer p.streamMu.Unlock()
	delete(p.streamSvcs, ss)
}

// streamConnClosed aborts the streams opened over l.
func (p *Peer) streamConnClosed(l *sock.Link) {
	p.streamMu.Lock()
	svcs := make([]*streamService, 0, len(p.streamSvcs))
	for ss := range p.streamSvcs {
		svcs = append(svcs, ss)
	}
	p.streamMu.Unlock()
	for _, ss := range svcs {
		ss.connClosed(l)
	}
}

// connClosed aborts the streams of ss opened over l.
func (ss *streamService) connClosed(l *sock.Link) {
	key := any(l)
	ss.mu.Lock()
	var gone []*stream
	for _, st := range ss.streams {
		if st.conn == key {
			gone = append(gone, st)
		}
	}
	ss.mu.Unlock()
	for _, st := range gone {
		st.abort(fmt.Errorf("core: the caller's connection closed: %w", context.Canceled))
	}
}

// addStreamStats adds the open streams of each stream service to its
// entry of services.
func (p *Peer) addStreamStats(services map[string]ServiceStats) {
	p.streamMu.Lock()
	svcs := make([]*streamService, 0, len(p.streamSvcs))
	for ss := range p.streamSvcs {
		svcs = append(svcs, ss)
	}
	p.streamMu.Unlock()
	for _, ss := range svcs {
		if st, ok := services[ss.name]; ok {
			st.Streams += ss.openStreams()
			services[ss.name] = st
		}
	}
}
