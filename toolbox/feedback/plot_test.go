package feedback

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func skSmallTrace(t *testing.T) *Trace {
	t.Helper()
	tr, err := NewTrace(`load, "x"`, "other")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		m := float64(i)
		if i == 4 {
			m = math.NaN()
		}
		if err := tr.Add(time.Duration(i+1)*time.Second, 5, m, 2*float64(i), 1, -3); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func TestPlotSVGWellFormed(t *testing.T) {
	tr := skSmallTrace(t)
	var b bytes.Buffer
	if err := tr.WriteSVG(&b, PlotOptions{Title: "a <title> & more"}); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	counts := map[string]int{}
	var texts []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			counts[el.Name.Local]++
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"a <title> & more", "setpoint", "measurement", "actuation", `load, "x"`, "other", "time (s)", "-3"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
	// Default panels: 3 (set point+measurement, actuation, extras) with 5
	// series; the NaN splits the measurement into two polylines.
	if counts["polyline"] != 6 {
		t.Errorf("%d polylines, want 6", counts["polyline"])
	}
	if counts["rect"] != 1+3 {
		t.Errorf("%d rects, want a background and 3 panel frames", counts["rect"])
	}
}

func TestPlotCustomPanelsAndErrors(t *testing.T) {
	tr := skSmallTrace(t)
	var b bytes.Buffer
	err := tr.WriteSVG(&b, PlotOptions{Panels: []Panel{{Title: "x", Series: []string{"nope"}}}})
	if !errors.Is(err, ErrSimConfig) {
		t.Fatalf("unknown series: %v, want ErrSimConfig", err)
	}
	if err := tr.WriteSVG(&b, PlotOptions{Width: 100}); !errors.Is(err, ErrSimConfig) {
		t.Fatalf("too narrow: %v, want ErrSimConfig", err)
	}
	b.Reset()
	opts := PlotOptions{Width: 600, PanelHeight: 150, Panels: []Panel{{Title: "only", Series: []string{SeriesActuation}}}}
	if err := tr.WriteSVG(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `width="600" height="150"`) || strings.Count(b.String(), "<polyline") != 1 {
		t.Fatalf("custom layout not honoured:\n%s", b.String()[:200])
	}
}

func TestPlotEmptyTrace(t *testing.T) {
	tr, err := NewTrace()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tr.WriteSVG(&b, PlotOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "NaN") || strings.Contains(b.String(), "Inf") {
		t.Fatal("empty trace drew NaN or Inf coordinates")
	}
}

func TestTraceCSV(t *testing.T) {
	tr := skSmallTrace(t)
	var b bytes.Buffer
	if err := tr.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want header + 10", len(lines))
	}
	if want := `time_s,setpoint,measurement,actuation,"load, ""x""",other`; lines[0] != want {
		t.Fatalf("header %q, want %q", lines[0], want)
	}
	if want := "5.000000,5.000000,,8.000000,1.000000,-3.000000"; lines[5] != want {
		t.Fatalf("NaN row %q, want %q", lines[5], want)
	}
	if err := tr.Add(time.Second, 1, 2, 3); !errors.Is(err, ErrSimConfig) {
		t.Fatalf("Add with missing extras: %v, want ErrSimConfig", err)
	}
	if _, err := NewTrace("setpoint"); !errors.Is(err, ErrSimConfig) {
		t.Fatalf("repeated name: %v, want ErrSimConfig", err)
	}
	if _, ok := tr.Series("nope"); ok || tr.Len() != 10 || len(tr.Names()) != 5 {
		t.Fatal("Series/Len/Names disagree with what was added")
	}
}

func TestPlotNiceTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi, wantLo, wantHi, wantStep float64
	}{
		// the step is the smallest 1-2-5 multiple of a power of ten ≥ range/5
		{0, 30, 0, 30, 10},
		{0, 97, 0, 100, 20},
		{-3, 9, -5, 10, 5},
		{0.1, 29.9, 0, 30, 10},
		{0, 0, 0, 1, 0.2},
		{0, 0.004, 0, 0.004, 0.001},
		{0, 1234, 0, 1500, 500},
	} {
		tk := niceAxis(c.lo, c.hi, 5)
		if math.Abs(tk.lo-c.wantLo) > 1e-9 || math.Abs(tk.hi-c.wantHi) > 1e-9 || math.Abs(tk.step-c.wantStep) > 1e-9 {
			t.Errorf("niceTicks(%v, %v) = %+v, want lo %v hi %v step %v", c.lo, c.hi, tk, c.wantLo, c.wantHi, c.wantStep)
		}
	}
}

// TestPlotFitY checks that a panel with FitY draws its y axis around
// the values rather than from zero, and that one without it starts at 0.
func TestPlotFitY(t *testing.T) {
	tr, err := NewTrace()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := tr.Add(time.Duration(i)*time.Second, 0.8, 0.78+0.002*float64(i), 1000); err != nil {
			t.Fatal(err)
		}
	}
	draw := func(fit bool) string {
		var b bytes.Buffer
		err := tr.WriteSVG(&b, PlotOptions{Panels: []Panel{{Title: "hit rate", Series: []string{SeriesSetpoint, SeriesMeasurement}, FitY: fit}}})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	yLabel := func(svg, label string) bool { return strings.Contains(svg, `text-anchor="end">`+label+`</text>`) }
	if fitted := draw(true); yLabel(fitted, "0") || !yLabel(fitted, "0.80") {
		t.Fatalf("FitY: the axis should hold 0.80 and not 0")
	}
	if full := draw(false); !yLabel(full, "0") {
		t.Fatalf("without FitY the axis should start at 0")
	}
}
