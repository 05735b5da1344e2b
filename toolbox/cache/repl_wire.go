package cache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The replication wire format of a cache server (docs/cache.md,
// "Replication protocol"). Every integer is big-endian.
//
// On the topic <name>.updates, each message is one update:
//
//	kind    1 byte   1 set, 2 delete, 3 heartbeat
//	epoch   8 bytes  the server's incarnation: random, new at each start
//	seq     8 bytes  set/delete: this write's number, 1, 2, 3... within
//	                 the epoch; heartbeat: the last write's number
//	set:    keylen 2, key, ttl 8 (milliseconds left, 0 for none),
//	        vallen 4, value
//	delete: keylen 2, key, reason 1 (a Reason)
//	heartbeat: interval 8 (milliseconds between heartbeats)
//
// A snapshot, the download of <name>.snapshot, is a header (magic
// "ZCS1", epoch 8, seq 8, count 8: the state after write seq) and count
// records: keylen 2, key, version 8, ttl 8, vallen 4, value. An entry's
// version is the seq of the write that set it.

// Update kinds.
const (
	kindSet       byte = 1
	kindDelete    byte = 2
	kindHeartbeat byte = 3
)

// MaxKeyLen bounds a cache server's keys.
const MaxKeyLen = 4096

var errBadUpdate = errors.New("cache: malformed update")

// update is one message on a server's update topic.
type update struct {
	kind     byte
	epoch    uint64
	seq      uint64
	key      string
	value    []byte        // set; aliases the decoded message
	ttl      time.Duration // set: time left, 0 for none
	reason   Reason        // delete
	interval time.Duration // heartbeat
}

func appendUpdate(dst []byte, u update) []byte {
	dst = append(dst, u.kind)
	dst = binary.BigEndian.AppendUint64(dst, u.epoch)
	dst = binary.BigEndian.AppendUint64(dst, u.seq)
	switch u.kind {
	case kindSet:
		dst = appendKey(dst, u.key)
		dst = binary.BigEndian.AppendUint64(dst, uint64(u.ttl.Milliseconds()))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(u.value)))
		dst = append(dst, u.value...)
	case kindDelete:
		dst = appendKey(dst, u.key)
		dst = append(dst, byte(u.reason))
	case kindHeartbeat:
		dst = binary.BigEndian.AppendUint64(dst, uint64(u.interval.Milliseconds()))
	}
	return dst
}

func appendKey(dst []byte, key string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	return append(dst, key...)
}

// decodeUpdate parses an update; its value aliases b.
func decodeUpdate(b []byte) (update, error) {
	r := reader{b: b}
	var u update
	u.kind = r.byte()
	u.epoch = r.u64()
	u.seq = r.u64()
	switch u.kind {
	case kindSet:
		u.key = r.key()
		u.ttl = r.ttl()
		u.value = r.bytes(int(r.u32()))
	case kindDelete:
		u.key = r.key()
		u.reason = Reason(r.byte())
		if u.reason < Evicted || u.reason > Deleted {
			r.fail()
		}
	case kindHeartbeat:
		u.interval = r.ttl()
	default:
		r.fail()
	}
	if r.err || len(r.b) != 0 {
		return update{}, fmt.Errorf("%w (kind %d, %d bytes)", errBadUpdate, u.kind, len(b))
	}
	return u, nil
}

// reader takes fields off a message; a short or bad message sets err.
type reader struct {
	b   []byte
	err bool
}

func (r *reader) fail() { r.err, r.b = true, nil }

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) key() string {
	n := int(r.u16())
	if n == 0 || n > MaxKeyLen {
		r.fail()
		return ""
	}
	return string(r.bytes(n))
}

// ttl reads milliseconds; above a century is malformed.
func (r *reader) ttl() time.Duration {
	ms := r.u64()
	if ms > uint64(100*365*24*time.Hour/time.Millisecond) {
		r.fail()
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// Snapshots.

var snapMagic = [4]byte{'Z', 'C', 'S', '1'}

// snapHeader opens a snapshot: the state after write seq of epoch.
type snapHeader struct {
	epoch, seq, count uint64
}

// snapRecord is one entry of a snapshot.
type snapRecord struct {
	key     string
	version uint64
	ttl     time.Duration // left; 0 for none
	value   []byte
}

func appendSnapHeader(dst []byte, h snapHeader) []byte {
	dst = append(dst, snapMagic[:]...)
	dst = binary.BigEndian.AppendUint64(dst, h.epoch)
	dst = binary.BigEndian.AppendUint64(dst, h.seq)
	return binary.BigEndian.AppendUint64(dst, h.count)
}

func appendSnapRecord(dst []byte, rec snapRecord) []byte {
	dst = appendKey(dst, rec.key)
	dst = binary.BigEndian.AppendUint64(dst, rec.version)
	dst = binary.BigEndian.AppendUint64(dst, uint64(rec.ttl.Milliseconds()))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(rec.value)))
	return append(dst, rec.value...)
}

var errBadSnapshot = errors.New("cache: malformed snapshot")

// snapReader reads a snapshot from a stream, refusing values above
// maxValue bytes so that a bad server cannot make it allocate at will.
type snapReader struct {
	r        *bufio.Reader
	maxValue int
	left     uint64
	buf      [8]byte
	err      error // a short read of an integer
}

func newSnapReader(r io.Reader, maxValue int) (*snapReader, snapHeader, error) {
	s := &snapReader{r: bufio.NewReaderSize(r, 64<<10), maxValue: maxValue}
	var hdr [28]byte
	if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
		return nil, snapHeader{}, fmt.Errorf("%w: header: %v", errBadSnapshot, err)
	}
	if [4]byte(hdr[:4]) != snapMagic {
		return nil, snapHeader{}, fmt.Errorf("%w: magic %q", errBadSnapshot, hdr[:4])
	}
	h := snapHeader{
		epoch: binary.BigEndian.Uint64(hdr[4:]),
		seq:   binary.BigEndian.Uint64(hdr[12:]),
		count: binary.BigEndian.Uint64(hdr[20:]),
	}
	s.left = h.count
	return s, h, nil
}

// next returns the next record, or io.EOF after the last, having
// checked that the stream ends there.
func (s *snapReader) next() (snapRecord, error) {
	if s.left == 0 {
		if _, err := s.r.ReadByte(); err != io.EOF {
			return snapRecord{}, fmt.Errorf("%w: data after the last record", errBadSnapshot)
		}
		return snapRecord{}, io.EOF
	}
	s.left--
	var rec snapRecord
	kl := int(s.uint(2))
	if s.err != nil {
		return rec, s.err
	}
	if kl == 0 || kl > MaxKeyLen {
		return rec, fmt.Errorf("%w: key length %d", errBadSnapshot, kl)
	}
	key, err := s.read(kl)
	if err != nil {
		return rec, err
	}
	rec.key = string(key)
	rec.version = s.uint(8)
	ms := s.uint(8)
	if ms > uint64(100*365*24*time.Hour/time.Millisecond) {
		return rec, fmt.Errorf("%w: ttl %d ms", errBadSnapshot, ms)
	}
	rec.ttl = time.Duration(ms) * time.Millisecond
	vl := int(s.uint(4))
	if s.err != nil {
		return rec, s.err
	}
	if vl > s.maxValue {
		return rec, fmt.Errorf("%w: value of %d bytes, the bound is %d", errBadSnapshot, vl, s.maxValue)
	}
	if rec.value, err = s.read(vl); err != nil {
		return rec, err
	}
	return rec, nil
}

// uint reads an n-byte integer; a short read sets s.err.
func (s *snapReader) uint(n int) uint64 {
	clear(s.buf[:])
	if _, err := io.ReadFull(s.r, s.buf[8-n:]); err != nil {
		if s.err == nil {
			s.err = fmt.Errorf("%w: record cut short: %v", errBadSnapshot, err)
		}
		return 0
	}
	return binary.BigEndian.Uint64(s.buf[:])
}

func (s *snapReader) read(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		return nil, fmt.Errorf("%w: record cut short: %v", errBadSnapshot, err)
	}
	return b, nil
}
