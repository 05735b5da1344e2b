package core

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// The chunking sub-protocol of streams (docs/protocol.md, section 6)
// rides in the bodies of ordinary calls. Every body, request or reply,
// starts with a fixed 30-byte stream header:
//
//	offset  size  field
//	0       1     version (1)
//	1       1     op (requests) or status (replies)
//	2       16    stream id (zero in an open)
//	18      8     seq, big-endian
//	26      4     arg, big-endian
//	30      -     payload
const (
	streamVersion   = 1
	streamHeaderLen = 30
)

// streamOp is what a stream request asks.
type streamOp uint8

const (
	opOpenUpload   streamOp = 1 // arg: timeout ms; payload: the header
	opOpenDownload streamOp = 2 // arg: timeout ms; payload: the request
	opData         streamOp = 3 // seq: chunk number; payload: the chunk
	opWait         streamOp = 4 // seq: the chunk the caller wants to send
	opRead         streamOp = 5 // seq: next chunk expected; arg: max bytes
	opClose        streamOp = 6 // seq: number of chunks sent
	opAbort        streamOp = 7 // payload: a reason, for logs
)

// streamStatus says how a stream reply answers.
type streamStatus uint8

const (
	statusOK      streamStatus = 0 // see the op
	statusPending streamStatus = 1 // nothing yet: ask again
	statusDone    streamStatus = 2 // the stream ended; it is forgotten
)

// streamID names a stream on its provider. It is random: knowing it is
// what lets a caller speak for the stream (on the connection that
// opened it).
type streamID [16]byte

func (id streamID) String() string { return hex.EncodeToString(id[:8]) }

// streamMsg is a decoded stream header; code is the op of a request or
// the status of a reply.
type streamMsg struct {
	code uint8
	id   streamID
	seq  uint64
	arg  uint32
}

var errBadStreamHeader = errors.New("core: bad stream header")

// appendStreamHeader appends m's header to b.
func appendStreamHeader(b []byte, m streamMsg) []byte {
	b = append(b, streamVersion, m.code)
	b = append(b, m.id[:]...)
	b = binary.BigEndian.AppendUint64(b, m.seq)
	return binary.BigEndian.AppendUint32(b, m.arg)
}

// putStreamHeader writes m's header into the first streamHeaderLen
// bytes of b, so that a chunk read into b[streamHeaderLen:] needs no copy.
func putStreamHeader(b []byte, m streamMsg) {
	appendStreamHeader(b[:0], m)
}

// encodeStream returns a new body: m's header and payload.
func encodeStream(m streamMsg, payload []byte) []byte {
	b := make([]byte, 0, streamHeaderLen+len(payload))
	return append(appendStreamHeader(b, m), payload...)
}

// decodeStreamHeader splits a stream body into its header and payload.
// The payload is a view of body. It checks the version and length only:
// which codes are valid depends on the direction.
func decodeStreamHeader(body []byte) (streamMsg, []byte, error) {
	if len(body) < streamHeaderLen {
		return streamMsg{}, nil, fmt.Errorf("%w: %d bytes, want at least %d", errBadStreamHeader, len(body), streamHeaderLen)
	}
	if body[0] != streamVersion {
		return streamMsg{}, nil, fmt.Errorf("%w: version %d", errBadStreamHeader, body[0])
	}
	m := streamMsg{code: body[1]}
	copy(m.id[:], body[2:18])
	m.seq = binary.BigEndian.Uint64(body[18:26])
	m.arg = binary.BigEndian.Uint32(body[26:30])
	return m, body[streamHeaderLen:], nil
}

// decodeStreamRequest decodes a request body and checks its op and the
// fields the op fixes.
func decodeStreamRequest(body []byte) (streamMsg, []byte, error) {
	m, payload, err := decodeStreamHeader(body)
	if err != nil {
		return m, nil, err
	}
	switch op := streamOp(m.code); op {
	case opOpenUpload, opOpenDownload:
		if m.id != (streamID{}) || m.seq != 0 {
			return m, nil, fmt.Errorf("%w: an open carries no stream id and no seq", errBadStreamHeader)
		}
	case opData, opWait, opRead, opClose, opAbort:
		if m.id == (streamID{}) {
			return m, nil, fmt.Errorf("%w: op %d without a stream id", errBadStreamHeader, op)
		}
	default:
		return m, nil, fmt.Errorf("%w: unknown op %d", errBadStreamHeader, op)
	}
	return m, payload, nil
}

// decodeStreamReply decodes a reply body and checks its status.
func decodeStreamReply(body []byte) (streamMsg, []byte, error) {
	m, payload, err := decodeStreamHeader(body)
	if err != nil {
		return m, nil, err
	}
	if streamStatus(m.code) > statusDone {
		return m, nil, fmt.Errorf("%w: unknown status %d", errBadStreamHeader, m.code)
	}
	return m, payload, nil
}
