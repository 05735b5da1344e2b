package core

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzStreamHeader checks the decoders of stream headers
// (stream_wire.go): any input is either refused as a bad stream header
// or decoded into fields that encode back to the same bytes. Seeds are
// below and in testdata/fuzz/FuzzStreamHeader; `go test
// -fuzz=FuzzStreamHeader ./core` explores.
func FuzzStreamHeader(f *testing.F) {
	id := streamID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	seeds := [][]byte{
		encodeStream(streamMsg{code: uint8(opOpenUpload), arg: 1500}, []byte("header")),
		encodeStream(streamMsg{code: uint8(opOpenDownload)}, nil),
		encodeStream(streamMsg{code: uint8(opData), id: id, seq: 7}, bytes.Repeat([]byte{0xAB}, 64)),
		encodeStream(streamMsg{code: uint8(opWait), id: id, seq: 1<<64 - 1}, nil),
		encodeStream(streamMsg{code: uint8(opRead), id: id, seq: 3, arg: 1 << 20}, nil),
		encodeStream(streamMsg{code: uint8(opClose), id: id, seq: 12}, nil),
		encodeStream(streamMsg{code: uint8(opAbort), id: id}, []byte("reason")),
		encodeStream(streamMsg{code: uint8(statusPending), id: id, seq: 9}, nil),
		encodeStream(streamMsg{code: uint8(statusDone), id: id}, []byte("reply")),
		encodeStream(streamMsg{code: 9, id: id}, nil),
		encodeStream(streamMsg{code: uint8(opData)}, nil),               // no id
		encodeStream(streamMsg{code: uint8(opOpenUpload), id: id}, nil), // an open with an id
		append([]byte{2}, make([]byte, streamHeaderLen-1)...),           // version 2
		make([]byte, streamHeaderLen-1),
		nil,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkStreamDecoder(t, "request", decodeStreamRequest, body)
		checkStreamDecoder(t, "reply", decodeStreamReply, body)
	})
}

func checkStreamDecoder(t *testing.T, what string, decode func([]byte) (streamMsg, []byte, error), body []byte) {
	m, payload, err := decode(body)
	if err != nil {
		if !errors.Is(err, errBadStreamHeader) {
			t.Fatalf("%s %x: error %v is not a bad stream header", what, body, err)
		}
		return
	}
	if len(body) < streamHeaderLen || body[0] != streamVersion {
		t.Fatalf("%s %x accepted", what, body)
	}
	if again := encodeStream(m, payload); !bytes.Equal(again, body) {
		t.Fatalf("%s %x decoded to %+v and %x, which encode to %x", what, body, m, payload, again)
	}
	if what == "request" && streamOp(m.code) >= opData && m.id == (streamID{}) {
		t.Fatalf("request %x accepted without a stream id", body)
	}
	if what == "reply" && streamStatus(m.code) > statusDone {
		t.Fatalf("reply %x accepted with status %d", body, m.code)
	}
}
