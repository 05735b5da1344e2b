package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// The transport encodes raft's request and response structs in a small
// binary format of its own rather than with msgpack (which raft's
// NetworkTransport uses through hashicorp/go-msgpack v2):
//
//   - every field is written explicitly, in a fixed order, so a reader
//     of this file sees the whole wire format, and a field raft adds in
//     a later version fails the round-trip tests instead of being
//     dropped silently by a reflective encoder;
//   - decoding allocates only the structs and the entry slice: byte
//     fields share the request body (which belongs to the handler), and
//     no reflection runs on the hot path of AppendEntries;
//   - every length is checked against what is left of the message
//     before anything is allocated, so garbage cannot make the decoder
//     allocate more than the message's size (the fuzz targets check it).
//
// A message is a format version byte (codecVersion), a kind byte naming
// the struct, then the fields: unsigned integers as uvarints, signed
// ones as zig-zag varints (both in their shortest form only), booleans as one byte 0 or 1, byte slices as
// a uvarint length and the bytes (length 0 decodes as nil), times as a
// byte 0 (the zero time) or 1 followed by Unix seconds (varint) and
// nanoseconds (uvarint below 1e9). A decoded time is in the local
// location and carries no monotonic reading; it is Equal to the
// encoded one. Trailing bytes are an error.
const codecVersion = 1

// Kinds of message, one per raft struct.
const (
	kindAppendReq      = 'A'
	kindAppendPiped    = 'B' // pipeline id and sequence number, then as 'A'
	kindAppendResp     = 'a'
	kindVoteReq        = 'V'
	kindVoteResp       = 'v'
	kindPreVoteReq     = 'P'
	kindPreVoteResp    = 'p'
	kindSnapshotReq    = 'S'
	kindSnapshotResp   = 's'
	kindTimeoutNowReq  = 'T'
	kindTimeoutNowResp = 't'
)

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("consensus: malformed message")

// enc appends fields to a buffer.
type enc struct{ b []byte }

func newEnc(kind byte, sizeHint int) *enc {
	e := &enc{b: make([]byte, 0, 64+sizeHint)}
	e.b = append(e.b, codecVersion, kind)
	return e
}

func (e *enc) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *enc) bytes(v []byte) {
	e.uint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.int(t.Unix())
	e.uint(uint64(t.Nanosecond()))
}

func (e *enc) header(h raft.RPCHeader) {
	e.int(int64(h.ProtocolVersion))
	e.bytes(h.ID)
	e.bytes(h.Addr)
}

// dec reads fields from a message; the first error sticks and later
// reads return zero values.
type dec struct {
	b   []byte
	err error
}

func newDec(b []byte, kind byte) *dec {
	d := &dec{b: b}
	switch {
	case len(b) < 2:
		d.fail("short message")
	case b[0] != codecVersion:
		d.fail("format version %d, want %d", b[0], codecVersion)
	case b[1] != kind:
		d.fail("kind %q, want %q", b[1], kind)
	default:
		d.b = b[2:]
	}
	return d
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *dec) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || n != uvarintLen(v) {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || n != uvarintLen(zigzag(v)) {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) bool() bool {
	if len(d.b) < 1 || d.b[0] > 1 {
		d.fail("bad bool")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *dec) byte() byte {
	if len(d.b) < 1 {
		d.fail("short message")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// bytes returns a sub-slice of the message, capped so that appending
// to it cannot overwrite what follows.
func (d *dec) bytes() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d beyond the message", n)
		return nil
	}
	if n == 0 {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec, nsec := d.int(), d.uint()
		if nsec >= 1e9 {
			d.fail("nanoseconds %d", nsec)
			return time.Time{}
		}
		t := time.Unix(sec, int64(nsec))
		if t.IsZero() {
			d.fail("zero time not encoded as such")
		}
		return t
	default:
		d.fail("bad time")
		return time.Time{}
	}
}

func (d *dec) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersion(d.int()), ID: d.bytes(), Addr: d.bytes()}
}

// uvarintLen is the length of v's shortest encoding: longer ones are
// refused, so that a message has one encoding only.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// zigzag maps a signed integer to the unsigned one Varint encodes.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// end reports the first error, or trailing bytes.
func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// minEntryBytes is the fewest bytes one encoded log entry takes (three
// one-byte uvarints, the type, two empty lengths and a zero time): a
// count of entries beyond what is left divided by it is garbage.
const minEntryBytes = 7

func encodeAppendRequest(r *raft.AppendEntriesRequest) []byte {
	e := newEnc(kindAppendReq, appendSize(r))
	e.appendFields(r)
	return e.b
}

// encodePipedAppendRequest encodes r as request seq of pipeline id.
func encodePipedAppendRequest(id, seq uint64, r *raft.AppendEntriesRequest) []byte {
	e := newEnc(kindAppendPiped, appendSize(r)+20)
	e.uint(id)
	e.uint(seq)
	e.appendFields(r)
	return e.b
}

func appendSize(r *raft.AppendEntriesRequest) int {
	size := len(r.Leader)
	for _, l := range r.Entries {
		size += len(l.Data) + len(l.Extensions) + 32
	}
	return size
}

func (e *enc) appendFields(r *raft.AppendEntriesRequest) {
	e.header(r.RPCHeader)
	e.uint(r.Term)
	e.bytes(r.Leader)
	e.uint(r.PrevLogEntry)
	e.uint(r.PrevLogTerm)
	e.uint(r.LeaderCommitIndex)
	e.uint(uint64(len(r.Entries)))
	for _, l := range r.Entries {
		e.uint(l.Index)
		e.uint(l.Term)
		e.b = append(e.b, byte(l.Type))
		e.bytes(l.Data)
		e.bytes(l.Extensions)
		e.time(l.AppendedAt)
	}
}

func decodeAppendRequest(b []byte) (*raft.AppendEntriesRequest, error) {
	return newDec(b, kindAppendReq).appendFields()
}

// decodeAnyAppendRequest decodes a plain or a pipelined request; id and
// seq are zero for a plain one.
func decodeAnyAppendRequest(b []byte) (r *raft.AppendEntriesRequest, id, seq uint64, err error) {
	if len(b) < 2 || b[1] != kindAppendPiped {
		r, err = decodeAppendRequest(b)
		return r, 0, 0, err
	}
	d := newDec(b, kindAppendPiped)
	id, seq = d.uint(), d.uint()
	if d.err == nil && seq == 0 {
		d.fail("sequence number 0")
	}
	r, err = d.appendFields()
	return r, id, seq, err
}

func (d *dec) appendFields() (*raft.AppendEntriesRequest, error) {
	r := &raft.AppendEntriesRequest{RPCHeader: d.header(), Term: d.uint(), Leader: d.bytes(),
		PrevLogEntry: d.uint(), PrevLogTerm: d.uint(), LeaderCommitIndex: d.uint()}
	n := d.uint()
	if n > uint64(len(d.b)/minEntryBytes) {
		d.fail("%d entries in %d bytes", n, len(d.b))
	}
	if d.err == nil && n > 0 {
		logs := make([]raft.Log, n)
		r.Entries = make([]*raft.Log, n)
		for i := range logs {
			l := &logs[i]
			l.Index, l.Term, l.Type = d.uint(), d.uint(), raft.LogType(d.byte())
			l.Data, l.Extensions, l.AppendedAt = d.bytes(), d.bytes(), d.time()
			r.Entries[i] = l
		}
	}
	return r, d.end()
}

func encodeAppendResponse(r *raft.AppendEntriesResponse) []byte {
	e := newEnc(kindAppendResp, 0)
	e.header(r.RPCHeader)
	e.uint(r.Term)
	e.uint(r.LastLog)
	e.bool(r.Success)
	e.bool(r.NoRetryBackoff)
	return e.b
}

func decodeAppendResponse(b []byte, r *raft.AppendEntriesResponse) error {
	d := newDec(b, kindAppendResp)
	*r = raft.AppendEntriesResponse{RPCHeader: d.header(), Term: d.uint(), LastLog: d.uint(),
		Success: d.bool(), NoRetryBackoff: d.bool()}
	return d.end()
}

func encodeVoteRequest(r *raft.RequestVoteRequest) []byte {
	e := newEnc(kindVoteReq, len(r.Candidate))
	e.header(r.RPCHeader)
	e.uint(r.Term)
	e.bytes(r.Candidate)
	e.uint(r.LastLogIndex)
	e.uint(r.LastLogTerm)
	e.bool(r.LeadershipTransfer)
	return e.b
}

func decodeVoteRequest(b []byte) (*raft.RequestVoteRequest, error) {
	d := newDec(b, kindVoteReq)
	r := &raft.RequestVoteRequest{RPCHeader: d.header(), Term: d.uint(), Candidate: d.bytes(),
		LastLogIndex: d.uint(), LastLogTerm: d.uint(), LeadershipTransfer: d.bool()}
	return r, d.end()
}

func encodeVoteResponse(r *raft.RequestVoteResponse) []byte {
	e := newEnc(kindVoteResp, len(r.Peers))
	e.header(r.RPCHeader)
	e.uint(r.Term)
	e.bytes(r.Peers)
	e.bool(r.Granted)
	return e.b
}

func decodeVoteResponse(b []byte, r *raft.RequestVoteResponse) error {
	d := newDec(b, kindVoteResp)
	*r = raft.RequestVoteResponse{RPCHeader: d.header(), Term: d.uint(), Peers: d.bytes(), Granted: d.bool()}
	return d.end()
}

func encodePreVoteRequest(r *raft.RequestPreVoteRequest) []byte {
	e := newEnc(kindPreVoteReq, 0)
	e.header(r.RPCHeader)
	e.uint(r.Term)
	e.uint(r.LastLogIndex)
	e.uint(r.LastLogTerm)
	return e.b
}

func decodePreVoteRequest(b []byte) (*raft.RequestPreVoteRequest, error) {
	d := newDec(b, kindPreVoteReq)
	r := &raft.RequestPreVoteRequest{RPCHeader: d.header(), Term: d.uint(), LastLogIndex: d.uint(), LastLogTerm: d.uint()}
	return r, d.end()
}

func encodePreVoteResponse(r *raft.RequestPreVoteResponse) []byte {
	e := newEnc(kindPreVoteResp, 0)
	e.header(r.RPCHeader)
	e.uint(r.Term)
	e.bool(r.Granted)
	return e.b
}

func decodePreVoteResponse(b []byte, r *raft.RequestPreVoteResponse) error {
	d := newDec(b, kindPreVoteResp)
	*r = raft.RequestPreVoteResponse{RPCHeader: d.header(), Term: d.uint(), Granted: d.bool()}
	return d.end()
}

func encodeSnapshotRequest(r *raft.InstallSnapshotRequest) []byte {
	e := newEnc(kindSnapshotReq, len(r.Leader)+len(r.Peers)+len(r.Configuration))
	e.header(r.RPCHeader)
	e.int(int64(r.SnapshotVersion))
	e.uint(r.Term)
	e.bytes(r.Leader)
	e.uint(r.LastLogIndex)
	e.uint(r.LastLogTerm)
	e.bytes(r.Peers)
	e.bytes(r.Configuration)
	e.uint(r.ConfigurationIndex)
	e.int(r.Size)
	return e.b
}

func decodeSnapshotRequest(b []byte) (*raft.InstallSnapshotRequest, error) {
	d := newDec(b, kindSnapshotReq)
	r := &raft.InstallSnapshotRequest{RPCHeader: d.header(), SnapshotVersion: raft.SnapshotVersion(d.int()),
		Term: d.uint(), Leader: d.bytes(), LastLogIndex: d.uint(), LastLogTerm: d.uint(),
		Peers: d.bytes(), Configuration: d.bytes(), ConfigurationIndex: d.uint(), Size: d.int()}
	if d.err == nil && r.Size < 0 {
		d.fail("negative snapshot size %d", r.Size)
	}
	return r, d.end()
}

func encodeSnapshotResponse(r *raft.InstallSnapshotResponse) []byte {
	e := newEnc(kindSnapshotResp, 0)
	e.header(r.RPCHeader)
	e.uint(r.Term)
	e.bool(r.Success)
	return e.b
}

func decodeSnapshotResponse(b []byte, r *raft.InstallSnapshotResponse) error {
	d := newDec(b, kindSnapshotResp)
	*r = raft.InstallSnapshotResponse{RPCHeader: d.header(), Term: d.uint(), Success: d.bool()}
	return d.end()
}

func encodeTimeoutNowRequest(r *raft.TimeoutNowRequest) []byte {
	e := newEnc(kindTimeoutNowReq, 0)
	e.header(r.RPCHeader)
	return e.b
}

func decodeTimeoutNowRequest(b []byte) (*raft.TimeoutNowRequest, error) {
	d := newDec(b, kindTimeoutNowReq)
	r := &raft.TimeoutNowRequest{RPCHeader: d.header()}
	return r, d.end()
}

func encodeTimeoutNowResponse(r *raft.TimeoutNowResponse) []byte {
	e := newEnc(kindTimeoutNowResp, 0)
	e.header(r.RPCHeader)
	return e.b
}

func decodeTimeoutNowResponse(b []byte, r *raft.TimeoutNowResponse) error {
	d := newDec(b, kindTimeoutNowResp)
	*r = raft.TimeoutNowResponse{RPCHeader: d.header()}
	return d.end()
}
