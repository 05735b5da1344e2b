package core

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every decoder of wire.go. `go test` runs the seeds;
// `go test -fuzz=FuzzParseRPC ./core` explores. Frame lists are encoded
// with joinFrames (helpers_test.go).

func rpcSeeds() [][][]byte {
	long := strings.Repeat("s", maxNameLen)
	seeds := [][][]byte{
		requestFrames(1, 0, "add", nil, []byte(`{"A":17,"B":25}`)),
		requestFrames(1<<63, 1<<31, long, nil, nil),
		requestFrames(2, 100, "zmp.ping", nil, []byte{}),
		replyFrames(3, nil, []byte("42")),
		replyFrames(0, nil, nil),
		errorFrames(4, nil, NewError(CodePanic, "kaboom")),
		errorFrames(5, nil, &RemoteError{Code: 1042, Message: "quota", Detail: "stack\x00trace"}),
		cancelFrames(6),
		requestFrames(9, 50, "get", encodeMeta(Metadata{MetaTraceID: "abc", MetaPriority: "batch"}), []byte("k")),
		requestFrames(10, 50, "get", []byte{}, nil),
		replyFrames(11, encodeMeta(Metadata{MetaCacheControl: "max-age=5"}), []byte("v")),
		errorFrames(12, []byte{}, NewError(CodeOverloaded, "shed")),
		{},
		{{}},
		{[]byte("x"), header{typ: typeReply}.marshal(), nil},
		{{}, header{typ: typeData, id: 1}.marshal(), nil},
		{{}, header{typ: 0}.marshal()},
		{{}, header{typ: 255}.marshal(), nil, nil},
		{{}, make([]byte, headerLen-1)},
		{{}, append([]byte{2}, make([]byte, headerLen-1)...), []byte("svc"), nil},
	}
	seeds = append(seeds, badEnvelopes()...)
	return append(seeds, requestFrames(7, 0, long+"s", nil, nil), requestFrames(8, 0, "a\x7fb", nil, nil))
}

func FuzzParseRPC(f *testing.F) {
	for _, s := range rpcSeeds() {
		f.Add(joinFrames(s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := splitFrames(data)
		m, err := parseRPC(frames)
		if err != nil {
			if !errors.Is(err, errBadEnvelope) && !errors.Is(err, ErrBadName) {
				t.Fatalf("parseRPC(%s): error %v is neither a bad envelope nor a bad name", describeFrames(frames), err)
			}
			return
		}
		if len(frames) < 2 || len(frames[0]) != 0 || len(frames[1]) != headerLen || frames[1][0] != wireVersion {
			t.Fatalf("parseRPC accepted %s", describeFrames(frames))
		}
		// Re-encoding gives back the same fields (and, for what zmp
		// itself sends, the same frames).
		var again [][]byte
		switch m.typ {
		case typeRequest:
			if checkName(m.service) != nil {
				t.Fatalf("accepted service name %q", m.service)
			}
			again = requestFrames(m.id, m.timeout, m.service, m.meta, m.body)
		case typeReply:
			again = replyFrames(m.id, m.meta, m.body)
		case typeError:
			again = errorFrames(m.id, m.meta, &RemoteError{Code: m.code, Message: string(m.body), Detail: string(m.detail)})
		case typeCancel:
			again = cancelFrames(m.id)
		default:
			t.Fatalf("parseRPC accepted message type %d", m.typ)
		}
		m2, err := parseRPC(again)
		if err != nil {
			t.Fatalf("re-encoded %+v does not parse: %v", m, err)
		}
		if m2.typ != m.typ || m2.id != m.id || m2.service != m.service || (m2.meta == nil) != (m.meta == nil) ||
			!bytes.Equal(m2.body, m.body) || !bytes.Equal(m2.detail, m.detail) || !bytes.Equal(m2.meta, m.meta) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
		if m.typ == typeRequest && m2.timeout != m.timeout {
			t.Fatalf("round trip changed the timeout %d into %d", m.timeout, m2.timeout)
		}
		if m.typ == typeError && m2.code != m.code {
			t.Fatalf("round trip changed the code %d into %d", m.code, m2.code)
		}
		// The frames come back the same, header included unless it had
		// a code or timeout where zmp sends none.
		canonical := (m.timeout == 0 || m.typ == typeRequest) && (m.code == 0 || m.typ == typeError)
		if !sameFrames(normalise(frames[2:]), normalise(again[2:])) || (canonical && !bytes.Equal(frames[1], again[1])) {
			t.Fatalf("frames %s re-encode as %s", describeFrames(frames), describeFrames(again))
		}
	})
}

// normalise turns nil frames into empty ones: on the wire they are equal.
func normalise(frames [][]byte) [][]byte {
	out := make([][]byte, len(frames))
	for i, f := range frames {
		out[i] = append([]byte{}, f...)
	}
	return out
}

func FuzzDecodeMeta(f *testing.F) {
	for _, md := range []Metadata{{}, {MetaTraceID: "t-1"}, {"a": "", "b.c_d-e": "ünïcode"}, {MetaIdempotent: "1", MetaPriority: "batch", MetaCacheControl: "no-cache"}} {
		f.Add(encodeMeta(md))
	}
	f.Add([]byte{3, 'a', 'b'})
	f.Add([]byte{1, 'A', 0, 0})
	f.Add([]byte{1, 'a', 0, 1, 0x01})
	f.Add([]byte{1, 'a', 0, 0, 1, 'a', 0, 0})
	f.Add(make([]byte, MaxMetadataBytes+1))
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := decodeMeta(b)
		if err != nil {
			if !errors.Is(err, ErrBadMetadata) {
				t.Fatalf("decodeMeta: error %v is not ErrBadMetadata", err)
			}
			return
		}
		if err := md.Validate(); err != nil {
			t.Fatalf("decoded %q from %x, which does not validate: %v", md, b, err)
		}
		again := encodeMeta(md)
		md2, err := decodeMeta(again)
		if err != nil || len(md2) != len(md) {
			t.Fatalf("re-encoded %q does not decode the same: %q, %v", md, md2, err)
		}
		for k, v := range md {
			if md2[k] != v {
				t.Fatalf("round trip changed %q=%q into %q", k, v, md2[k])
			}
		}
	})
}

func FuzzParseData(f *testing.F) {
	seeds := [][][]byte{
		dataFrames(topicFrame("temperature"), 1, []byte("21.5")),
		dataFrames(topicFrame("sensors/hum"), 1<<64-1, nil),
		dataFrames(topicFrame(strings.Repeat("t", maxNameLen)), 2, []byte{0}),
		{topicFrame("t"), header{typ: typeData}.marshal()},
		{[]byte("t"), header{typ: typeData}.marshal(), nil},
		{[]byte{0}, header{typ: typeData}.marshal(), nil},
		{[]byte("a\x00b\x00"), header{typ: typeData}.marshal(), nil},
		{topicFrame("t"), header{typ: typeReply}.marshal(), nil},
		{topicFrame("t"), make([]byte, headerLen), nil},
		{topicFrame("\xff"), header{typ: typeData}.marshal(), nil},
		{topicFrame("t"), header{typ: typeData}.marshal(), nil, nil},
		{{1}, []byte("t\x00")},
	}
	for _, s := range seeds {
		f.Add(joinFrames(s...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames := splitFrames(data)
		d, err := parseData(frames)
		if err != nil {
			if !errors.Is(err, errBadEnvelope) && !errors.Is(err, ErrBadName) {
				t.Fatalf("parseData(%s): unexpected error %v", describeFrames(frames), err)
			}
			return
		}
		if len(frames) != 3 || !bytes.Equal(frames[0], topicFrame(d.topic)) || checkName(d.topic) != nil {
			t.Fatalf("parseData accepted %s as topic %q", describeFrames(frames), d.topic)
		}
		again := dataFrames(topicFrame(d.topic), d.seq, d.body)
		d2, err := parseData(again)
		if err != nil || d2.topic != d.topic || d2.seq != d.seq || !bytes.Equal(d2.body, d.body) {
			t.Fatalf("round trip of %+v: %+v, %v", d, d2, err)
		}
		// The header comes back the same unless it had a code or a
		// timeout, which DATA does not use (and decoders ignore).
		h := frames[1]
		canonical := bytes.Equal(h[2:4], []byte{0, 0}) && bytes.Equal(h[12:], []byte{0, 0, 0, 0})
		if !sameFrames(normalise(frames[2:]), normalise(again[2:])) || (canonical && !bytes.Equal(h, again[1])) {
			t.Fatalf("frames %s re-encode as %s", describeFrames(frames), describeFrames(again))
		}
	})
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{
		"add", "sensors/temp", "zmp.ping", "名前", "a b", "", "a\x00b", "tab\t", "del\x7f",
		"\xff\xfe", strings.Repeat("n", maxNameLen), strings.Repeat("n", maxNameLen+1), "\u0085next-line",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := checkName(name)
		want := name != "" && len(name) <= maxNameLen && utf8.ValidString(name) &&
			!strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f })
		if (err == nil) != want {
			t.Fatalf("checkName(%q) = %v, want ok=%v", name, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("checkName(%q) = %v, not ErrBadName", name, err)
			}
			return
		}
		// A valid name survives the wire as a topic and as a service.
		if d, err := parseData(dataFrames(topicFrame(name), 1, nil)); err != nil || d.topic != name {
			t.Fatalf("topic %q: %+v, %v", name, d, err)
		}
		if m, err := parseRPC(requestFrames(1, 0, name, nil, nil)); err != nil || m.service != name {
			t.Fatalf("service %q: %+v, %v", name, m, err)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add(header{typ: typeRequest, id: 1, timeout: 1000}.marshal())
	f.Add(header{typ: typeError, code: CodePanic, id: 1<<64 - 1}.marshal())
	f.Add(header{typ: typeData, id: 42}.marshal())
	f.Add([]byte{})
	f.Add(make([]byte, headerLen))
	f.Add(make([]byte, headerLen+1))
	f.Add(append([]byte{2}, make([]byte, headerLen-1)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		valid := len(b) == headerLen && b[0] == wireVersion
		if (err == nil) != valid {
			t.Fatalf("parseHeader(%x) = %+v, %v", b, h, err)
		}
		if err != nil {
			if !errors.Is(err, errBadEnvelope) {
				t.Fatalf("parseHeader(%x): %v is not a bad envelope", b, err)
			}
			return
		}
		if got := h.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("header %x parses to %+v, which marshals to %x", b, h, got)
		}
	})
}
