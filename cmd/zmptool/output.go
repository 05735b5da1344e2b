package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// printJSON writes v as indented JSON, without the members whose value
// is the zero time (see withoutZeroTimes).
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if b, err = withoutZeroTimes(b); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// zeroTime is how encoding/json writes the zero time.Time.
const zeroTime = `"0001-01-01T00:00:00Z"`

// withoutZeroTimes returns the JSON document b without the object
// members whose value is the zero time, at any depth, keeping the order
// of the others: core's types hold a time.Time that is not known as the
// zero time (zmp.info's "expires": a node's lease is the registry's
// business), which encoding/json writes as "0001-01-01T00:00:00Z"
// rather than leave out.
func withoutZeroTimes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := copyWithoutZeroTimes(&buf, json.RawMessage(b)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func copyWithoutZeroTimes(buf *bytes.Buffer, v json.RawMessage) error {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		buf.Write(v)
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	open, err := dec.Token()
	if err != nil {
		return err
	}
	buf.WriteString(open.(json.Delim).String())
	for first := true; dec.More(); {
		var key string
		if open == json.Delim('{') {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key = k.(string)
		}
		var elem json.RawMessage
		if err := dec.Decode(&elem); err != nil {
			return err
		}
		if open == json.Delim('{') && string(elem) == zeroTime {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		if open == json.Delim('{') {
			k, _ := json.Marshal(key)
			buf.Write(k)
			buf.WriteByte(':')
		}
		if err := copyWithoutZeroTimes(buf, elem); err != nil {
			return err
		}
	}
	if open == json.Delim('{') {
		buf.WriteByte('}')
	} else {
		buf.WriteByte(']')
	}
	return nil
}

// printJSONLine writes v as one line of JSON.
func printJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// table writes aligned columns; rows are tab-separated.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// listOrDash joins names, or gives "-" for none.
func listOrDash(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}

// shortDuration rounds d for people: 850ms, 12s, 3m4s, 5h2m.
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// byteSize formats n bytes: 512 B, 1.5 KiB, 3.2 MiB.
func byteSize(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// dataText renders a message or reply body for people: JSON compacted
// (or indented when indent), other text quoted, binary as hex.
func dataText(b []byte, indent bool) string {
	if json.Valid(b) {
		var buf bytes.Buffer
		if indent {
			json.Indent(&buf, b, "", "  ")
		} else {
			json.Compact(&buf, b)
		}
		return buf.String()
	}
	if utf8.Valid(b) {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("<%d bytes: %x>", len(b), b)
}

// jsonData is a body inside a JSON document: the body itself when it is
// JSON, otherwise the bytes (base64) under another key.
type jsonData struct {
	Data json.RawMessage `json:"data,omitempty"`
	Raw  []byte          `json:"raw,omitempty"`
}

func newJSONData(b []byte) jsonData {
	if json.Valid(b) {
		var buf bytes.Buffer
		json.Compact(&buf, b)
		return jsonData{Data: buf.Bytes()}
	}
	return jsonData{Raw: b}
}
