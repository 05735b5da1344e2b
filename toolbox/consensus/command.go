package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The commands of the replicated key-value store, as they travel in the
// raft log. Every integer is big-endian; strings and byte strings are a
// length (4 bytes) then the bytes.
//
//	op 1, now 8 (the proposer's clock, unix ns), then by op:
//	put        key, value, lease 8 (0: none)
//	delete     key
//	cas        key, modrev 8 (0: only when absent), value, lease 8
//	grant      lease 8, ttl 8 (ns)
//	keepalive  lease 8
//	revoke     lease 8
//	expire     (nothing: leases past their deadline at now go)
//
// Time enters the state machine only through now, which the proposer
// stamps: every replica applies the same commands with the same now,
// so leases expire at the same log index everywhere, whatever each
// replica's own clock says.

type opCode byte

const (
	opPut opCode = iota + 1
	opDelete
	opCAS
	opGrant
	opKeepAlive
	opRevoke
	opExpire
)

func (o opCode) String() string {
	switch o {
	case opPut:
		return "put"
	case opDelete:
		return "delete"
	case opCAS:
		return "cas"
	case opGrant:
		return "grant"
	case opKeepAlive:
		return "keepalive"
	case opRevoke:
		return "revoke"
	case opExpire:
		return "expire"
	}
	return fmt.Sprintf("op(%d)", byte(o))
}

// Bounds of commands.
const (
	MaxKeyLen   = 4096
	MaxValueLen = 8 << 20
)

// command is one change proposed to the store.
type command struct {
	op     opCode
	now    int64 // the proposer's clock, unix ns
	key    string
	value  []byte
	modRev uint64 // cas: the revision the key must have (0: absent)
	lease  uint64 // put, cas: the lease the key lives by; grant, keepalive, revoke: the lease
	ttl    time.Duration
}

var errBadCommand = errors.New("consensus: malformed command")

func appendCommand(dst []byte, c command) []byte {
	dst = append(dst, byte(c.op))
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.now))
	switch c.op {
	case opPut:
		dst = appendField(dst, []byte(c.key))
		dst = appendField(dst, c.value)
		dst = binary.BigEndian.AppendUint64(dst, c.lease)
	case opDelete:
		dst = appendField(dst, []byte(c.key))
	case opCAS:
		dst = appendField(dst, []byte(c.key))
		dst = binary.BigEndian.AppendUint64(dst, c.modRev)
		dst = appendField(dst, c.value)
		dst = binary.BigEndian.AppendUint64(dst, c.lease)
	case opGrant:
		dst = binary.BigEndian.AppendUint64(dst, c.lease)
		dst = binary.BigEndian.AppendUint64(dst, uint64(c.ttl))
	case opKeepAlive, opRevoke:
		dst = binary.BigEndian.AppendUint64(dst, c.lease)
	}
	return dst
}

func appendField(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// decodeCommand parses a command; its value aliases b.
func decodeCommand(b []byte) (command, error) {
	r := cmdReader{b: b}
	var c command
	c.op = opCode(r.byte())
	c.now = int64(r.u64())
	switch c.op {
	case opPut:
		c.key = r.key()
		c.value = r.value()
		c.lease = r.u64()
	case opDelete:
		c.key = r.key()
	case opCAS:
		c.key = r.key()
		c.modRev = r.u64()
		c.value = r.value()
		c.lease = r.u64()
	case opGrant:
		c.lease = r.u64()
		c.ttl = time.Duration(r.u64())
		if c.ttl <= 0 || c.lease == 0 {
			r.fail()
		}
	case opKeepAlive, opRevoke:
		c.lease = r.u64()
		if c.lease == 0 {
			r.fail()
		}
	case opExpire:
	default:
		r.fail()
	}
	if r.bad || len(r.b) != 0 {
		return command{}, fmt.Errorf("%w (op %v, %d bytes)", errBadCommand, c.op, len(b))
	}
	return c, nil
}

// cmdReader takes fields off an encoded message; a short or bad one sets bad.
type cmdReader struct {
	b   []byte
	bad bool
}

func (r *cmdReader) fail() { r.bad, r.b = true, nil }

func (r *cmdReader) take(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.fail()
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *cmdReader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *cmdReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *cmdReader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *cmdReader) key() string {
	n := int(r.u32())
	if n == 0 || n > MaxKeyLen {
		r.fail()
		return ""
	}
	return string(r.take(n))
}

func (r *cmdReader) value() []byte {
	n := int(r.u32())
	if n > MaxValueLen {
		r.fail()
		return nil
	}
	return r.take(n)
}
