package agent

import (
	"errors"
	"testing"
	"unicode/utf8"
)

// Every request decoder either refuses its input with an error of the
// agent's (a code and a sentinel) or returns a request within the
// agent's rules; none panics.

func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if Code(err) == 0 {
		t.Fatalf("an error without an agent code: %v", err)
	}
	var ce *codedError
	if !errors.As(err, &ce) {
		t.Fatalf("not a coded error: %T %v", err, err)
	}
}

func FuzzDecodeStart(f *testing.F) {
	for _, s := range []string{
		`{"name":"n1","kind":"calc"}`, `{"name":"n1","kind":"greeter","args":["--greeting","hi"],"restart":"transient"}`,
		`{"name":"","kind":""}`, `{"name":"a","kind":"b","args":["\u0000"]}`, `{}`, `null`, `[]`, `{"name":"a"} x`,
		`{"name":"a","kind":"b","restart":"always"}`, `{"args":null}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, err := decodeStart(body, 8, 256)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if CheckName(spec.Name) != nil || spec.Kind == "" || len(spec.Args) > 8 {
			t.Fatalf("accepted %+v", spec)
		}
		total := 0
		for _, a := range spec.Args {
			total += len(a)
			if !utf8.ValidString(a) {
				t.Fatalf("accepted an argument that is not UTF-8: %q", a)
			}
		}
		if total > 256 {
			t.Fatalf("accepted %d bytes of arguments", total)
		}
		switch spec.Restart {
		case Permanent, Transient, Temporary:
		default:
			t.Fatalf("accepted restart %q", spec.Restart)
		}
	})
}

func FuzzDecodeName(f *testing.F) {
	for _, s := range []string{`{"name":"n1"}`, `{"name":"../x"}`, `{"name":1}`, `{}`, `{"name":"a","x":1}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		name, err := decodeName(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if CheckName(name) != nil {
			t.Fatalf("accepted name %q", name)
		}
	})
}

func FuzzDecodeLogs(f *testing.F) {
	for _, s := range []string{`{"name":"n1"}`, `{"name":"n1","tail":-5,"follow":true}`, `{"name":"n1","tail":1e99}`, `{"follow":"yes"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeLogs(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		if CheckName(r.Name) != nil {
			t.Fatalf("accepted %+v", r)
		}
		ring := newLogRing("n", 4, 64, 16)
		ring.tailStart(r.Tail) // any tail is safe
	})
}

func FuzzDecodeEmpty(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, ` `, `{"a":1}`, `[]`, `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := decodeEmpty(body); err != nil {
			checkRefusal(t, err)
		}
	})
}

// The ring takes any bytes in any pieces without breaking its bounds.
func FuzzLogRing(f *testing.F) {
	f.Add([]byte("[n] a\n[n] bb\nccc"), uint8(3))
	f.Add([]byte("\n\n\n\n\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, piece uint8) {
		r := newLogRing("n", 3, 20, 8)
		step := int(piece%16) + 1
		for len(data) > 0 {
			k := min(step, len(data))
			r.Write(data[:k])
			data = data[k:]
		}
		r.close()
		rd := r.since(0, 100)
		size := 0
		for _, l := range rd.lines {
			size += len(l)
			if len(l) > 8 {
				t.Fatalf("line %q beyond the line bound", l)
			}
		}
		if len(rd.lines) > 3 || size > 20 {
			t.Fatalf("%d lines of %d bytes held", len(rd.lines), size)
		}
	})
}
