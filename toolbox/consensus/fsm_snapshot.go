package consensus

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"
)

// A snapshot of the store, as raft persists and ships it:
//
//	magic "ZKV1", rev 8, clock 8, keys 8, then per key: key (4+n),
//	value (4+n), createrev 8, modrev 8, version 8, lease 8;
//	leases 8, then per lease: id 8, ttl 8, deadline 8.
//
// Keys come in key order and leases in id order, so that equal states
// give equal snapshots.

var kvSnapMagic = [4]byte{'Z', 'K', 'V', '1'}

var errBadKVSnapshot = errors.New("consensus: malformed snapshot")

// frozen is a state copied for a snapshot: entries are never modified
// once stored, so copying the pointers is enough.
type frozen struct {
	rev, clock uint64
	keys       []*Entry
	leases     []lease
}

func (s *state) freeze() *frozen {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f := &frozen{rev: s.rev, clock: uint64(s.clock), keys: make([]*Entry, 0, len(s.keys))}
	for _, e := range s.keys {
		f.keys = append(f.keys, e)
	}
	for _, l := range s.leases {
		f.leases = append(f.leases, lease{id: l.id, ttl: l.ttl, deadline: l.deadline})
	}
	return f
}

// write encodes the frozen state to w.
func (f *frozen) write(w io.Writer) error {
	sort.Slice(f.keys, func(i, j int) bool { return f.keys[i].Key < f.keys[j].Key })
	sort.Slice(f.leases, func(i, j int) bool { return f.leases[i].id < f.leases[j].id })
	bw := bufio.NewWriterSize(w, 64<<10)
	var b []byte
	b = append(b, kvSnapMagic[:]...)
	b = binary.BigEndian.AppendUint64(b, f.rev)
	b = binary.BigEndian.AppendUint64(b, f.clock)
	b = binary.BigEndian.AppendUint64(b, uint64(len(f.keys)))
	for _, e := range f.keys {
		b = appendField(b, []byte(e.Key))
		b = appendField(b, e.Value)
		for _, x := range []uint64{e.CreateRev, e.ModRev, e.Version, e.Lease} {
			b = binary.BigEndian.AppendUint64(b, x)
		}
		if len(b) >= 32<<10 {
			if _, err := bw.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(f.leases)))
	for _, l := range f.leases {
		b = binary.BigEndian.AppendUint64(b, l.id)
		b = binary.BigEndian.AppendUint64(b, uint64(l.ttl))
		b = binary.BigEndian.AppendUint64(b, uint64(l.deadline))
	}
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

// readState decodes a snapshot into a new state.
func readState(r io.Reader) (*state, error) {
	sr := kvSnapReader{r: bufio.NewReaderSize(r, 64<<10)}
	var magic [4]byte
	sr.full(magic[:])
	if sr.err == nil && magic != kvSnapMagic {
		return nil, fmt.Errorf("%w: magic %q", errBadKVSnapshot, magic[:])
	}
	s := newState(1)
	s.rev, s.clock = sr.u64(), int64(sr.u64())
	n := sr.u64()
	for i := uint64(0); i < n && sr.err == nil; i++ {
		e := &Entry{Key: string(sr.bytes(MaxKeyLen)), Value: sr.bytes(MaxValueLen)}
		e.CreateRev, e.ModRev, e.Version, e.Lease = sr.u64(), sr.u64(), sr.u64(), sr.u64()
		if e.Key == "" {
			sr.fail("empty key")
		}
		s.keys[e.Key] = e
	}
	nl := sr.u64()
	for i := uint64(0); i < nl && sr.err == nil; i++ {
		l := &lease{id: sr.u64(), ttl: time.Duration(sr.u64()), deadline: int64(sr.u64()), keys: map[string]struct{}{}}
		s.leases[l.id] = l
	}
	if sr.err != nil {
		return nil, sr.err
	}
	if _, err := sr.r.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the end", errBadKVSnapshot)
	}
	for _, e := range s.keys {
		if e.Lease == 0 {
			continue
		}
		l := s.leases[e.Lease]
		if l == nil {
			return nil, fmt.Errorf("%w: key %q of lease %d, which is not there", errBadKVSnapshot, e.Key, e.Lease)
		}
		l.keys[e.Key] = struct{}{}
	}
	return s, nil
}

// kvSnapReader reads a snapshot's fields; the first failure sticks.
type kvSnapReader struct {
	r   *bufio.Reader
	err error
	buf [8]byte
}

func (s *kvSnapReader) fail(why string) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: %s", errBadKVSnapshot, why)
	}
}

func (s *kvSnapReader) full(b []byte) {
	if s.err != nil {
		return
	}
	if _, err := io.ReadFull(s.r, b); err != nil {
		s.fail(err.Error())
	}
}

func (s *kvSnapReader) u64() uint64 {
	s.full(s.buf[:8])
	if s.err != nil {
		return 0
	}
	return binary.BigEndian.Uint64(s.buf[:8])
}

func (s *kvSnapReader) bytes(limit int) []byte {
	s.full(s.buf[:4])
	if s.err != nil {
		return nil
	}
	n := int(binary.BigEndian.Uint32(s.buf[:4]))
	if n > limit {
		s.fail(fmt.Sprintf("a field of %d bytes, the bound is %d", n, limit))
		return nil
	}
	b := make([]byte, n)
	s.full(b)
	return b
}

// restoreFrom replaces s's contents with r's, keeping its watchers.
func (s *state) restoreFrom(r *state) {
	s.mu.Lock()
	s.keys, s.leases, s.rev, s.clock = r.keys, r.leases, r.rev, r.clock
	s.hist = newHistory(len(s.hist.ring))
	s.hist.since = r.rev // watches from before the snapshot: compacted
	rev := s.rev
	s.mu.Unlock()
	s.watches.notify(rev)
}
