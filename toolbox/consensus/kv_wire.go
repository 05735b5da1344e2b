package consensus

import (
	"encoding/binary"
	"fmt"
)

// The key-value service's request and reply bodies (services
// NAME.propose, NAME.get, NAME.list, NAME.events; docs/consensus.md).
// Every integer is big-endian; strings and byte strings are a length
// (4 bytes) then the bytes.
//
//	propose request   a command (command.go); its now is the leader's to stamp
//	propose reply     rev 8, ok 1, prev: has 1 [entry]
//	get request       stale 1, key
//	get reply         rev 8, found 1 [entry]
//	list request      stale 1, limit 4, prefix
//	list reply        rev 8, count 4, entries
//	events request    after 8, limit 4, prefix
//	events reply      seen 8, count 4, events: type 1, rev 8, entry
//	entry             key, value, createrev 8, modrev 8, version 8, lease 8

// maxListReply bounds the entries of one list or events reply.
const maxListReply = 100_000

func appendEntry(b []byte, e Entry) []byte {
	b = appendField(b, []byte(e.Key))
	b = appendField(b, e.Value)
	for _, x := range []uint64{e.CreateRev, e.ModRev, e.Version, e.Lease} {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return b
}

func (r *cmdReader) entry() Entry {
	e := Entry{Key: r.key(), Value: r.value()}
	e.CreateRev, e.ModRev, e.Version, e.Lease = r.u64(), r.u64(), r.u64(), r.u64()
	return e
}

func (r *cmdReader) done(what string) error {
	if r.bad || len(r.b) != 0 {
		return fmt.Errorf("%w: %s", errBadCommand, what)
	}
	return nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func (r *cmdReader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail()
	return false
}

// proposeReply is a command's result on the wire.
type proposeReply struct {
	rev  uint64
	ok   bool
	prev *Entry
}

func appendProposeReply(b []byte, p proposeReply) []byte {
	b = binary.BigEndian.AppendUint64(b, p.rev)
	b = appendBool(b, p.ok)
	b = appendBool(b, p.prev != nil)
	if p.prev != nil {
		b = appendEntry(b, *p.prev)
	}
	return b
}

func decodeProposeReply(b []byte) (proposeReply, error) {
	r := cmdReader{b: b}
	p := proposeReply{rev: r.u64(), ok: r.bool()}
	if r.bool() {
		e := r.entry()
		p.prev = &e
	}
	return p, r.done("propose reply")
}

type readRequest struct {
	stale  bool
	key    string // get; list: the prefix (may be empty)
	limit  uint32 // list, events
	after  uint64 // events
	events bool
}

func appendGetRequest(b []byte, stale bool, key string) []byte {
	return appendField(appendBool(b, stale), []byte(key))
}

func decodeGetRequest(b []byte) (readRequest, error) {
	r := cmdReader{b: b}
	q := readRequest{stale: r.bool(), key: r.key()}
	return q, r.done("get request")
}

func appendListRequest(b []byte, stale bool, limit uint32, prefix string) []byte {
	b = appendBool(b, stale)
	b = binary.BigEndian.AppendUint32(b, limit)
	return appendField(b, []byte(prefix))
}

func decodeListRequest(b []byte) (readRequest, error) {
	r := cmdReader{b: b}
	q := readRequest{stale: r.bool(), limit: r.u32()}
	q.key = r.prefix()
	return q, r.done("list request")
}

func appendEventsRequest(b []byte, after uint64, limit uint32, prefix string) []byte {
	b = binary.BigEndian.AppendUint64(b, after)
	b = binary.BigEndian.AppendUint32(b, limit)
	return appendField(b, []byte(prefix))
}

func decodeEventsRequest(b []byte) (readRequest, error) {
	r := cmdReader{b: b}
	q := readRequest{events: true, after: r.u64(), limit: r.u32()}
	q.key = r.prefix()
	return q, r.done("events request")
}

// prefix reads a key prefix, which may be empty.
func (r *cmdReader) prefix() string {
	n := int(r.u32())
	if n > MaxKeyLen {
		r.fail()
		return ""
	}
	return string(r.take(n))
}

func appendGetReply(b []byte, rev uint64, e *Entry) []byte {
	b = binary.BigEndian.AppendUint64(b, rev)
	b = appendBool(b, e != nil)
	if e != nil {
		b = appendEntry(b, *e)
	}
	return b
}

func decodeGetReply(b []byte) (uint64, *Entry, error) {
	r := cmdReader{b: b}
	rev := r.u64()
	var e *Entry
	if r.bool() {
		x := r.entry()
		e = &x
	}
	return rev, e, r.done("get reply")
}

func appendListReply(b []byte, rev uint64, es []Entry) []byte {
	b = binary.BigEndian.AppendUint64(b, rev)
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for _, e := range es {
		b = appendEntry(b, e)
	}
	return b
}

func decodeListReply(b []byte) (uint64, []Entry, error) {
	r := cmdReader{b: b}
	rev, n := r.u64(), r.u32()
	if n > maxListReply {
		r.fail()
	}
	var es []Entry
	for i := uint32(0); i < n && !r.bad; i++ {
		es = append(es, r.entry())
	}
	return rev, es, r.done("list reply")
}

func appendEventsReply(b []byte, seen uint64, evs []Event) []byte {
	b = binary.BigEndian.AppendUint64(b, seen)
	b = binary.BigEndian.AppendUint32(b, uint32(len(evs)))
	for _, ev := range evs {
		b = append(b, byte(ev.Type))
		b = binary.BigEndian.AppendUint64(b, ev.Rev)
		b = appendEntry(b, ev.Entry)
	}
	return b
}

func decodeEventsReply(b []byte) (uint64, []Event, error) {
	r := cmdReader{b: b}
	seen, n := r.u64(), r.u32()
	if n > maxListReply {
		r.fail()
	}
	var evs []Event
	for i := uint32(0); i < n && !r.bad; i++ {
		ev := Event{Type: EventType(r.byte()), Rev: r.u64()}
		if ev.Type != EventPut && ev.Type != EventDelete {
			r.fail()
		}
		ev.Entry = r.entry()
		evs = append(evs, ev)
	}
	return seen, evs, r.done("events reply")
}
