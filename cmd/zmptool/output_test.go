package main

import (
	"bytes"
	"testing"
	"time"
)

func TestWithoutZeroTimes(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"scalar", `3`, `3`},
		{"zero time alone is not a member", `"0001-01-01T00:00:00Z"`, `"0001-01-01T00:00:00Z"`},
		{"member dropped, order kept", `{"b":1,"expires":"0001-01-01T00:00:00Z","a":2}`, `{"b":1,"a":2}`},
		{"last member dropped", `{"a":1,"expires":"0001-01-01T00:00:00Z"}`, `{"a":1}`},
		{"only member dropped", `{"expires":"0001-01-01T00:00:00Z"}`, `{}`},
		{"nested in arrays and objects", `[{"x":{"t":"0001-01-01T00:00:00Z","u":"2026-01-02T03:04:05Z"}},[]]`, `[{"x":{"u":"2026-01-02T03:04:05Z"}},[]]`},
		{"array element kept", `["0001-01-01T00:00:00Z"]`, `["0001-01-01T00:00:00Z"]`},
		{"numbers and escapes kept", `{"n":1.50e3,"s":"a\"<b>"}`, `{"n":1.50e3,"s":"a\"<b>"}`},
		{"keys re-escaped", `{"a\"b":"0001-01-01T00:00:00Z","<k>":null}`, `{"\u003ck\u003e":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := withoutZeroTimes([]byte(tt.in))
			if err != nil || string(got) != tt.want {
				t.Errorf("withoutZeroTimes(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// printJSON leaves out a time.Time that is zero, and writes one that is
// not as encoding/json does.
func TestPrintJSONLeavesOutZeroTimes(t *testing.T) {
	type entry struct {
		Name    string    `json:"name"`
		Started time.Time `json:"started"`
		Expires time.Time `json:"expires"`
	}
	var buf bytes.Buffer
	started := time.Date(2026, 11, 22, 1, 27, 33, 0, time.UTC)
	if err := printJSON(&buf, []entry{{"a", started, time.Time{}}}); err != nil {
		t.Fatal(err)
	}
	want := "[\n  {\n    \"name\": \"a\",\n    \"started\": \"2026-11-22T01:27:33Z\"\n  }\n]\n"
	if buf.String() != want {
		t.Errorf("printJSON wrote\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestFlatJSON(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"hits":7,"misses":3,"policy":"lru","size":{"bytes":10,"entries":2}}`, "hits=7 misses=3 policy=lru size.bytes=10 size.entries=2"},
		{`[1,2]`, `[1,2]`},
		{`"text"`, `"text"`},
		{`not json`, `not json`},
	} {
		if got := flatJSON([]byte(tt.in)); got != tt.want {
			t.Errorf("flatJSON(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
