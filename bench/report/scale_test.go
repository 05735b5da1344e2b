package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// fakeScale adds synthetic scale results to run: every metric of every
// case grows as size^k with k per metric, and one point failed.
func fakeScale(run *harness.Run, k map[string]float64) {
	var ms []harness.ScaleMeasurement
	for _, p := range spec.ScaleMatrix(spec.ScaleCases, false) {
		m := harness.ScaleMeasurement{ID: p.ID(), Point: p, Rep: 1, Metrics: map[string]float64{}}
		for _, metric := range spec.ScaleMetrics(p.Case) {
			m.Metrics[metric] = 7 * math.Pow(float64(p.Size), k[metric])
		}
		if p.Case == spec.ScaleRegistryNode && p.Size == 1000 {
			m = harness.ScaleMeasurement{ID: p.ID(), Point: p, Rep: 1, Error: "boom"}
		}
		ms = append(ms, m)
	}
	sums := harness.SummariseScale(ms)
	run.Scale = &harness.ScaleRun{Reps: 1, Samples: 5, Points: spec.ScaleMatrix(spec.ScaleCases, false),
		Measurements: ms, Summaries: sums, Growth: harness.Growths(sums)}
}

func TestScaleMarkdown(t *testing.T) {
	run := fakeRun()
	k := map[string]float64{spec.CallsPerSec: 0, spec.FirstCallMs: 1, spec.AdvertiseMs: 2, spec.ListNodesMs: 0.5}
	fakeScale(run, k)
	var b bytes.Buffer
	Markdown(&b, run)
	md := b.String()
	if !strings.Contains(md, "## Scale (zmp)") {
		t.Fatalf("no scale section:\n%s", md)
	}
	for _, c := range spec.ScaleCases {
		if !strings.Contains(md, "### "+string(c)+":") {
			t.Errorf("no table for %s", c)
		}
	}
	// Each growth row has its reading, and every step its factor.
	for _, g := range run.Scale.Growth {
		row := rowOf(md, spec.ScaleLabel(g.Case, g.Metric), string(g.Case))
		if row == "" {
			t.Errorf("%s %s: no row", g.Case, g.Metric)
			continue
		}
		if !strings.HasSuffix(row, " "+g.Reading+" |") {
			t.Errorf("%s %s: row %q does not end with reading %q", g.Case, g.Metric, row, g.Reading)
		}
		for _, s := range g.Steps {
			want := fmt.Sprintf("(×%s", scaleFigure("", s.Factor))
			if spec.ScaleLowerIsBetter(g.Metric) {
				want += fmt.Sprintf(", +%s/", scaleFigure("", s.Marginal))
			}
			if !strings.Contains(row, want) {
				t.Errorf("%s %s: row %q lacks %q", g.Case, g.Metric, row, want)
			}
		}
	}
	if !strings.Contains(md, "registry-node-1000 failed 1 of 1: boom") {
		t.Errorf("the failed point is not listed:\n%s", md)
	}
}

// rowOf returns the table row starting with label in the section of
// case c.
func rowOf(md, label, c string) string {
	i := strings.Index(md, "### "+c+":")
	if i < 0 {
		return ""
	}
	section := md[i+4:]
	if j := strings.Index(section, "### "); j >= 0 {
		section = section[:j]
	}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "| "+label+" |") {
			return line
		}
	}
	return ""
}

// TestScaleSVG checks that the chart stays well-formed with the scale
// panels, one per group, each point a circle.
func TestScaleSVG(t *testing.T) {
	run := fakeRun()
	fakeScale(run, map[string]float64{spec.RSSPerConnKiB: -0.5})
	var b bytes.Buffer
	SVG(&b, run)
	dec := xml.NewDecoder(&b)
	var circles, titles int
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			circles++
		}
		if cd, ok := tok.(xml.CharData); ok && strings.HasPrefix(string(cd), "Scale: ") {
			titles++
		}
	}
	var points int
	for _, g := range run.Scale.Growth {
		points += len(g.Sizes)
	}
	if circles != points {
		t.Errorf("%d circles for %d points", circles, points)
	}
	if titles != 4 {
		t.Errorf("%d scale panels, want 4 (callers, subscribers, registry, topics)", titles)
	}
}

func TestScaleText(t *testing.T) {
	run := fakeRun()
	fakeScale(run, map[string]float64{spec.MsgsPerSec: -0.5})
	var b bytes.Buffer
	Text(&b, run)
	if !strings.Contains(b.String(), "rate falls (n^-0.5)") || !strings.Contains(b.String(), "scale registry-node-1000 FAILED: boom") {
		t.Errorf("text lacks the scale figures:\n%s", b.String())
	}
}
