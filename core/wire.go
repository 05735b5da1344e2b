package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Wire format (docs/protocol.md is the normative description):
//
//	RPC, DEALER → ROUTER:  "" | header | service | [meta] | body    REQUEST
//	                       "" | header                              CANCEL
//	RPC, ROUTER → DEALER:  "" | header | [meta] | body              REPLY
//	                       "" | header | [meta] | message | detail  ERROR (code in header)
//	                       "" | header                              GOODBYE
//
// The metadata frame is optional: a REQUEST has it when its caller sent
// metadata (or wants the reply's), and only then may the REPLY or ERROR
// carry one.
//
//	Pub/sub, PUB → SUB:    topic 0x00 | header | body      DATA
//
// header is 16 bytes: version(1)=1, type(1), code(2, big-endian),
// id or sequence (8, big-endian), timeout in ms (4, big-endian).
const (
	wireVersion = 1
	headerLen   = 16
)

type msgType byte

const (
	typeRequest msgType = 1
	typeReply   msgType = 2
	typeError   msgType = 3
	typeCancel  msgType = 4
	typeData    msgType = 5
	typeGoodbye msgType = 6
)

var errBadEnvelope = errors.New("core: malformed envelope")

// errBadService marks a well-formed REQUEST whose service name is
// invalid: it can be answered, unlike a malformed envelope.
var errBadService = errors.New("core: invalid service name")

type header struct {
	typ     msgType
	code    Code
	id      uint64 // request id, or sequence number for DATA
	timeout uint32 // milliseconds, REQUEST only; 0 means none
}

func (h header) marshal() []byte {
	b := make([]byte, headerLen)
	h.put(b)
	return b
}

// put writes the header into b[:headerLen].
func (h header) put(b []byte) {
	b[0] = wireVersion
	b[1] = byte(h.typ)
	binary.BigEndian.PutUint16(b[2:], uint16(h.code))
	binary.BigEndian.PutUint64(b[4:], h.id)
	binary.BigEndian.PutUint32(b[12:], h.timeout)
}

func parseHeader(b []byte) (header, error) {
	if len(b) != headerLen {
		return header{}, fmt.Errorf("%w: header of %d bytes", errBadEnvelope, len(b))
	}
	if b[0] != wireVersion {
		return header{}, fmt.Errorf("%w: version %d", errBadEnvelope, b[0])
	}
	return header{
		typ:     msgType(b[1]),
		code:    Code(binary.BigEndian.Uint16(b[2:])),
		id:      binary.BigEndian.Uint64(b[4:]),
		timeout: binary.BigEndian.Uint32(b[12:]),
	}, nil
}

// rpcMessage is a decoded RPC envelope.
type rpcMessage struct {
	header
	service string // REQUEST
	body    []byte // REQUEST, REPLY; message text for ERROR
	detail  []byte // ERROR
	meta    []byte // the metadata frame; nil when absent
}

// splitMeta separates the optional metadata frame: rest holds want
// frames without it, or want+1 with it first (after the service name,
// for a REQUEST). A present but empty frame is returned non-nil.
func splitMeta(rest [][]byte, want int) (meta []byte, body [][]byte, ok bool) {
	switch len(rest) {
	case want:
		return nil, rest, true
	case want + 1:
		if rest[0] == nil {
			return emptyFrame, rest[1:], true
		}
		return rest[0], rest[1:], true
	}
	return nil, nil, false
}

// parseRPC decodes an RPC envelope as received by either side.
func parseRPC(frames [][]byte) (rpcMessage, error) {
	if len(frames) < 2 || len(frames[0]) != 0 {
		return rpcMessage{}, fmt.Errorf("%w: want an empty delimiter then a header", errBadEnvelope)
	}
	h, err := parseHeader(frames[1])
	if err != nil {
		return rpcMessage{}, err
	}
	m := rpcMessage{header: h}
	rest := frames[2:]
	switch h.typ {
	case typeRequest:
		if len(rest) == 0 {
			return m, fmt.Errorf("%w: REQUEST has no service frame", errBadEnvelope)
		}
		meta, body, ok := splitMeta(rest[1:], 1)
		if !ok {
			return m, fmt.Errorf("%w: REQUEST has %d frames after the header, want 2 or 3", errBadEnvelope, len(rest))
		}
		// Received frames are never written to, so the service name can
		// be a view of its frame instead of a copy.
		m.service, m.meta, m.body = unsafe.String(unsafe.SliceData(rest[0]), len(rest[0])), meta, body[0]
		if err := checkName(m.service); err != nil {
			return m, fmt.Errorf("%w: %w", errBadService, err)
		}
	case typeReply:
		meta, body, ok := splitMeta(rest, 1)
		if !ok {
			return m, fmt.Errorf("%w: REPLY has %d frames after the header, want 1 or 2", errBadEnvelope, len(rest))
		}
		m.meta, m.body = meta, body[0]
	case typeError:
		meta, body, ok := splitMeta(rest, 2)
		if !ok {
			return m, fmt.Errorf("%w: ERROR has %d frames after the header, want 2 or 3", errBadEnvelope, len(rest))
		}
		m.meta, m.body, m.detail = meta, body[0], body[1]
	case typeCancel, typeGoodbye:
		if len(rest) != 0 {
			return m, fmt.Errorf("%w: message type %d has %d frames after the header, want 0", errBadEnvelope, h.typ, len(rest))
		}
	default:
		return m, fmt.Errorf("%w: RPC message type %d", errBadEnvelope, h.typ)
	}
	return m, nil
}

var emptyFrame = []byte{}

// requestFrames builds a REQUEST in one buffer; body is copied, so the
// caller may reuse it at once. meta is the encoded metadata frame, nil
// for none.
func requestFrames(id uint64, timeoutMS uint32, service string, meta, body []byte) [][]byte {
	m := &struct {
		frames [5][]byte
		hdr    [headerLen]byte
	}{}
	header{typ: typeRequest, id: id, timeout: timeoutMS}.put(m.hdr[:])
	buf := make([]byte, len(service)+len(body))
	copy(buf, service)
	copy(buf[len(service):], body)
	m.frames = [5][]byte{emptyFrame, m.hdr[:], buf[:len(service):len(service)], meta, buf[len(service):]}
	if meta == nil {
		m.frames[3] = m.frames[4]
		return m.frames[:4]
	}
	return m.frames[:]
}

func cancelFrames(id uint64) [][]byte {
	return [][]byte{emptyFrame, header{typ: typeCancel, id: id}.marshal()}
}

// goodbyeFrames tells a caller that the node is shutting down.
func goodbyeFrames() [][]byte {
	return [][]byte{emptyFrame, header{typ: typeGoodbye}.marshal()}
}

// replyFrames builds a REPLY; meta is the encoded metadata frame, nil
// for none.
func replyFrames(id uint64, meta, body []byte) [][]byte {
	m := &struct {
		frames [4][]byte
		hdr    [headerLen]byte
	}{}
	header{typ: typeReply, id: id}.put(m.hdr[:])
	if meta == nil {
		m.frames = [4][]byte{emptyFrame, m.hdr[:], body}
		return m.frames[:3]
	}
	m.frames = [4][]byte{emptyFrame, m.hdr[:], meta, body}
	return m.frames[:]
}

// errorFrames builds an ERROR; meta as for replyFrames.
func errorFrames(id uint64, meta []byte, e *RemoteError) [][]byte {
	h := header{typ: typeError, id: id, code: e.Code}
	if meta == nil {
		return [][]byte{emptyFrame, h.marshal(), []byte(e.Message), []byte(e.Detail)}
	}
	return [][]byte{emptyFrame, h.marshal(), meta, []byte(e.Message), []byte(e.Detail)}
}

// topicFrame is the first frame of a DATA message: the topic name and
// a terminating NUL, so that subscribing to "name\x00" matches exactly
// that topic and subscribing to a prefix matches every topic under it.
func topicFrame(topic string) []byte {
	b := make([]byte, len(topic)+1)
	copy(b, topic)
	return b
}

// dataFrames builds a DATA message; body is copied, so the publisher
// may reuse it at once, and the message is shared by every subscriber.
func dataFrames(topic []byte, seq uint64, body []byte) [][]byte {
	m := &struct {
		frames [3][]byte
		hdr    [headerLen]byte
	}{}
	header{typ: typeData, id: seq}.put(m.hdr[:])
	m.frames = [3][]byte{topic, m.hdr[:], append([]byte(nil), body...)}
	return m.frames[:]
}

// dataMessage is a decoded DATA envelope.
type dataMessage struct {
	topic string
	seq   uint64
	body  []byte
}

func parseData(frames [][]byte) (dataMessage, error) {
	d, err := parseDataEnvelope(frames)
	if err != nil {
		return dataMessage{}, err
	}
	if err := checkName(d.topic); err != nil {
		return dataMessage{}, err
	}
	return d, nil
}

// parseDataEnvelope is parseData without the check of the topic name,
// for a caller that checks only names it has not seen before.
func parseDataEnvelope(frames [][]byte) (dataMessage, error) {
	if len(frames) != 3 {
		return dataMessage{}, fmt.Errorf("%w: DATA has %d frames, want 3", errBadEnvelope, len(frames))
	}
	t := frames[0]
	if len(t) < 2 || t[len(t)-1] != 0 {
		return dataMessage{}, fmt.Errorf("%w: topic frame not NUL-terminated", errBadEnvelope)
	}
	// A view of the frame (see parseRPC); subscribers intern it before
	// handing it out.
	topic := unsafe.String(unsafe.SliceData(t), len(t)-1)
	h, err := parseHeader(frames[1])
	if err != nil {
		return dataMessage{}, err
	}
	if h.typ != typeData {
		return dataMessage{}, fmt.Errorf("%w: pub/sub message type %d", errBadEnvelope, h.typ)
	}
	return dataMessage{topic: topic, seq: h.id, body: frames[2]}, nil
}

// maxNameLen bounds node, service and topic names.
const maxNameLen = 255

// checkName accepts non-empty UTF-8 names of at most 255 bytes with no
// control characters (NUL and bytes below 0x20 are reserved by the wire
// format).
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("%w: %q has control characters", ErrBadName, name)
	}
	return nil
}
