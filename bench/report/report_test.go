package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// fakeRun has zmp, tcp and nats on a few variants, one skip and one
// failure.
func fakeRun() *harness.Run {
	vs := spec.Matrix(spec.Cases, []string{spec.TCP})
	run := &harness.Run{Systems: []string{"zmp", "tcp", "libzmq", "nats"}, Variants: vs, Reps: 1, Duration: "2s", Warmup: "300ms",
		Machine: harness.Machine{CPU: "Test <CPU> & co", Cores: 2}}
	var ms []harness.Measurement
	for i, v := range vs {
		for j, s := range []string{"zmp", "tcp", "nats"} {
			x := float64((i+1)*(j+1)) * 1000
			m := harness.Measurement{System: s, ID: v.ID(), Variant: v, Rep: 1, Metrics: map[string]float64{
				spec.Headline(v.Case): x, spec.P99: 2 * x, spec.P999: 3 * x, spec.MBPerSec: x / 10, spec.ServerRSSMiB: 20, spec.ClientRSSMiB: 30}}
			if s == "nats" && v.Case == spec.Fanout {
				m = harness.Measurement{System: s, ID: v.ID(), Variant: v, Rep: 1, Error: "boom"}
			}
			ms = append(ms, m)
		}
		run.Skipped = append(run.Skipped, harness.Skip{System: "libzmq", ID: v.ID(), Reason: "skipped: built without -tags libzmq"})
	}
	run.Measurements = ms
	run.Summaries = harness.Summarise(ms)
	return run
}

func TestSVGIsWellFormed(t *testing.T) {
	var b bytes.Buffer
	SVG(&b, fakeRun())
	d := xml.NewDecoder(&b)
	texts := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "text" {
			texts++
		}
	}
	if texts < 20 {
		t.Errorf("only %d text elements: labels missing", texts)
	}
}

func TestTablesShowRatiosSkipsAndFailures(t *testing.T) {
	var md, txt bytes.Buffer
	run := fakeRun()
	Markdown(&md, run)
	Text(&txt, run)
	for _, out := range []string{md.String(), txt.String()} {
		for _, want := range []string{"(2.00×)", "skipped", "failed", "libzmq skipped: built without", "round trip p50, µs", "publisher peak RSS"} {
			if !strings.Contains(out, want) {
				t.Errorf("missing %q in\n%s", want, out)
			}
		}
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		metric string
		x      float64
		want   string
	}{
		{spec.P50, 25.04, "25.0"}, {spec.P50, 124.4, "124"}, {spec.P50, 3.456, "3.46"},
		{spec.MsgsPerSec, 1.33e6, "1.33 M"}, {spec.CallsPerSec, 85e3, "85.0 k"}, {spec.CallsPerSec, 210e3, "210 k"},
	} {
		if got := format(c.metric, c.x); got != c.want {
			t.Errorf("format(%s, %v) = %q, want %q", c.metric, c.x, got, c.want)
		}
	}
}
