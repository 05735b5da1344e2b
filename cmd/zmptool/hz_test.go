package main

import (
	"math"
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []sample {
		var s []sample
		for i, m := range ms {
			s = append(s, sample{t0.Add(time.Duration(m) * time.Millisecond), 10 * (i + 1)})
		}
		return s
	}
	tests := []struct {
		name                string
		samples             []sample
		rate, min, max, std float64
		bps, avg            float64
	}{
		{"empty", nil, 0, 0, 0, 0, 0, 0},
		{"one message: size only", at(0), 0, 0, 0, 0, 0, 10},
		// gaps 100, 100, 100 ms; bytes after the first: 20+30+40 over 0.3 s
		{"steady 10 Hz", at(0, 100, 200, 300), 10, 0.1, 0.1, 0, 300, 25},
		// gaps 100, 300 ms: mean 0.2, std 0.1
		{"uneven", at(0, 100, 400), 5, 0.1, 0.3, 0.1, 125, 20},
		// two messages at the same instant: no span, no rate
		{"no time span", at(0, 0), 0, 0, 0, 0, 0, 15},
	}
	close := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := measure(tt.samples)
			if r.Window != len(tt.samples) || !close(r.RateHz, tt.rate) || !close(r.MinGapS, tt.min) || !close(r.MaxGapS, tt.max) ||
				!close(r.StdDevS, tt.std) || !close(r.BytesPerS, tt.bps) || !close(r.AvgBytes, tt.avg) {
				t.Errorf("measure: %+v", r)
			}
		})
	}
}

func TestRateWindowKeepsTheLastN(t *testing.T) {
	w := newRateWindow(3)
	t0 := time.Unix(0, 0)
	for i := range 7 {
		w.add(sample{t0.Add(time.Duration(i) * time.Second), i})
		s := w.samples()
		if want := min(i+1, 3); len(s) != want {
			t.Fatalf("after %d samples the window holds %d, want %d", i+1, len(s), want)
		}
		for j := 1; j < len(s); j++ {
			if s[j].size != s[j-1].size+1 {
				t.Fatalf("after %d samples: not the last ones, oldest first: %v", i+1, s)
			}
		}
		if s[len(s)-1].size != i {
			t.Fatalf("newest sample %d, want %d", s[len(s)-1].size, i)
		}
	}
	if w.total != 7 {
		t.Errorf("total %d", w.total)
	}
}
