package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The request/reply encoding of a cache server's operations
// (docs/protocol.md, "Cache server"). Values are bytes, so the bodies
// are binary; every integer is big-endian and every body must be read
// to its last byte.
//
//	N.get request   keylen 2, key
//	N.get reply     found 1 (0 or 1); when 1: version 8, ttl 8, vallen 4, value
//	N.set request   keylen 2, key, ttl 8, vallen 4, value
//	N.set reply     version 8
//	N.del request   keylen 2, key
//	N.del reply     deleted 1 (0: there was no such key, 1: deleted)
//	N.cas request   keylen 2, key, version 8, ttl 8, vallen 4, value
//	N.cas reply     version 8
//
// A request's ttl is in milliseconds: 0 takes the server's default TTL,
// 0xFFFFFFFFFFFFFFFF means no expiry. A get reply's ttl is the time the
// entry has left in milliseconds, 0 for none. Keys are 1 to MaxKeyLen
// bytes. N.stats takes an empty request and answers ServerStats as JSON.

// wireNoExpiry is a request's ttl for "never expires".
const wireNoExpiry = ^uint64(0)

// maxWireTTL is the longest TTL on the wire: a century.
const maxWireTTL = 100 * 365 * 24 * time.Hour

var errBadOp = errors.New("cache: malformed request or reply")

// opRequest is a set or CAS request (get and del carry the key alone).
type opRequest struct {
	key     string
	version uint64        // CAS: the version expected, 0 for absent
	ttl     time.Duration // 0: the server's default; NoExpiry: none
	value   []byte        // aliases the decoded body
}

// getReply is the answer to a get.
type getReply struct {
	found   bool
	version uint64
	ttl     time.Duration // left; 0 for none
	value   []byte        // aliases the decoded body
}

// encodeTTL writes a request's ttl: NoExpiry (or any negative) as
// wireNoExpiry, a positive ttl rounded up to whole milliseconds and
// capped at a century.
func encodeTTL(d time.Duration) uint64 {
	switch {
	case d < 0:
		return wireNoExpiry
	case d == 0:
		return 0
	case d > maxWireTTL:
		d = maxWireTTL
	}
	return uint64((d + time.Millisecond - 1) / time.Millisecond)
}

// requestTTL reads a request's ttl.
func (r *reader) requestTTL() time.Duration {
	ms := r.u64()
	switch {
	case ms == wireNoExpiry:
		return NoExpiry
	case ms > uint64(maxWireTTL/time.Millisecond):
		r.fail()
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// appendKeyRequest writes a get or del request.
func appendKeyRequest(dst []byte, key string) []byte { return appendKey(dst, key) }

// decodeKeyRequest reads a get or del request.
func decodeKeyRequest(b []byte) (string, error) {
	r := reader{b: b}
	key := r.key()
	if err := r.done("key request", len(b)); err != nil {
		return "", err
	}
	return key, nil
}

// appendSetRequest writes a set request, or with cas a CAS request.
func appendSetRequest(dst []byte, q opRequest, cas bool) []byte {
	dst = appendKey(dst, q.key)
	if cas {
		dst = binary.BigEndian.AppendUint64(dst, q.version)
	}
	dst = binary.BigEndian.AppendUint64(dst, encodeTTL(q.ttl))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(q.value)))
	return append(dst, q.value...)
}

// decodeSetRequest reads a set request, or with cas a CAS request.
// The value aliases b.
func decodeSetRequest(b []byte, cas bool) (opRequest, error) {
	r := reader{b: b}
	var q opRequest
	q.key = r.key()
	if cas {
		q.version = r.u64()
	}
	q.ttl = r.requestTTL()
	q.value = r.bytes(int(r.u32()))
	if err := r.done("set request", len(b)); err != nil {
		return opRequest{}, err
	}
	return q, nil
}

// appendGetReply writes the answer to a get.
func appendGetReply(dst []byte, g getReply) []byte {
	if !g.found {
		return append(dst, 0)
	}
	dst = append(dst, 1)
	dst = binary.BigEndian.AppendUint64(dst, g.version)
	dst = binary.BigEndian.AppendUint64(dst, uint64((g.ttl+time.Millisecond-1)/time.Millisecond))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(g.value)))
	return append(dst, g.value...)
}

// decodeGetReply reads the answer to a get; the value aliases b.
func decodeGetReply(b []byte) (getReply, error) {
	r := reader{b: b}
	var g getReply
	switch r.byte() {
	case 0:
	case 1:
		g.found = true
		g.version = r.u64()
		g.ttl = r.ttl()
		g.value = r.bytes(int(r.u32()))
	default:
		r.fail()
	}
	if err := r.done("get reply", len(b)); err != nil {
		return getReply{}, err
	}
	return g, nil
}

// appendVersionReply writes the answer to a set or CAS.
func appendVersionReply(dst []byte, version uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, version)
}

// decodeVersionReply reads the answer to a set or CAS.
func decodeVersionReply(b []byte) (uint64, error) {
	r := reader{b: b}
	v := r.u64()
	if err := r.done("version reply", len(b)); err != nil {
		return 0, err
	}
	return v, nil
}

// appendDelReply writes the answer to a del.
func appendDelReply(dst []byte, deleted bool) []byte {
	if deleted {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// decodeDelReply reads the answer to a del.
func decodeDelReply(b []byte) (bool, error) {
	r := reader{b: b}
	d := r.byte()
	if d > 1 {
		r.fail()
	}
	if err := r.done("del reply", len(b)); err != nil {
		return false, err
	}
	return d == 1, nil
}

// done reports a short, bad or overlong body.
func (r *reader) done(what string, n int) error {
	if r.err || len(r.b) != 0 {
		return fmt.Errorf("%w: %s of %d bytes", errBadOp, what, n)
	}
	return nil
}
