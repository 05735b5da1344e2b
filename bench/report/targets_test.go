package report

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/gozmp/zmp/bench/harness"
	"github.com/gozmp/zmp/bench/spec"
)

// fig is one median of a synthetic run.
type fig struct {
	sys    string
	v      spec.Variant
	metric string
	x      float64
}

// synthRun makes a run of one repetition holding exactly figs, its
// systems and variants in the order figs name them; a fig with a
// negative value is a failed measurement.
func synthRun(figs ...fig) *harness.Run {
	run := &harness.Run{Reps: 1, Duration: "2s", Warmup: "300ms"}
	var ms []harness.Measurement
	at := map[[2]string]int{}
	for _, f := range figs {
		if !slices.Contains(run.Systems, f.sys) {
			run.Systems = append(run.Systems, f.sys)
		}
		if !slices.Contains(run.Variants, f.v) {
			run.Variants = append(run.Variants, f.v)
		}
		k := [2]string{f.sys, f.v.ID()}
		i, ok := at[k]
		if !ok {
			i, at[k] = len(ms), len(ms)
			ms = append(ms, harness.Measurement{System: f.sys, ID: f.v.ID(), Variant: f.v, Rep: 1, Metrics: map[string]float64{}})
		}
		if f.x < 0 {
			ms[i].Metrics, ms[i].Error = nil, "boom"
			continue
		}
		ms[i].Metrics[f.metric] = f.x
	}
	run.Measurements = ms
	run.Summaries = harness.Summarise(ms)
	return run
}

// judge returns the verdict of the one target whose name starts with
// prefix, failing the test unless there is exactly one.
func judge(t *testing.T, run *harness.Run, prefix string) string {
	t.Helper()
	var got []target
	for _, tg := range targets(index(run)) {
		if strings.HasPrefix(tg.name, prefix) {
			got = append(got, tg)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d targets named %q: %+v", len(got), prefix, got)
	}
	return got[0].verdict()
}

func TestTargets(t *testing.T) {
	rtt, rttIPC := rttOn(spec.TCP), rttOn(spec.IPC)
	in256, in64IPC := inflightOn(256, spec.TCP), inflightOn(64, spec.IPC)
	big := pubsubOn(spec.Large, spec.IPC)
	for _, c := range []struct {
		name   string
		figs   []fig
		target string
		want   string // the verdict, or its end
	}{
		{"p50 within 1.3×", []fig{{"zmp", rtt, spec.P50, 24}, {"tcp", rtt, spec.P50, 20}},
			"call p50 ≤ 1.3× raw TCP, tcp", "zmp 24.0 vs tcp 20.0 = 1.20×: met"},
		{"p50 beyond 1.3×", []fig{{"zmp", rtt, spec.P50, 28}, {"tcp", rtt, spec.P50, 20}},
			"call p50 ≤ 1.3× raw TCP, tcp", "= 1.40×: NOT met"},
		{"p50 on ipc", []fig{{"zmp", rttIPC, spec.P50, 26}, {"tcp", rttIPC, spec.P50, 20}},
			"call p50 ≤ 1.3× raw TCP, ipc", "= 1.30×: met"},
		{"p99.9 beyond 2× on ipc", []fig{{"zmp", rttIPC, spec.P999, 250}, {"tcp", rttIPC, spec.P999, 100}},
			"call p99.9 ≤ 2× raw TCP, ipc", "= 2.50×: NOT met"},
		{"no raw TCP figure", []fig{{"zmp", rtt, spec.P999, 150}},
			"call p99.9 ≤ 2× raw TCP, tcp", "not measured in this run"},
		{"256 in flight behind libzmq", []fig{{"zmp", in256, spec.CallsPerSec, 400e3}, {"libzmq", in256, spec.CallsPerSec, 500e3}},
			"calls/s at 256 in flight ≥ libzmq, tcp", "zmp 400 k vs libzmq 500 k = 0.80×: NOT met"},
		{"64 in flight on ipc ahead of libzmq", []fig{{"zmp", in64IPC, spec.CallsPerSec, 300e3}, {"libzmq", in64IPC, spec.CallsPerSec, 250e3}},
			"calls/s at 64 in flight ≥ libzmq, ipc", "= 1.20×: met"},
		{"4 KiB over ipc behind raw TCP", []fig{{"zmp", big, spec.MsgsPerSec, 180e3}, {"tcp", big, spec.MsgsPerSec, 360e3}},
			"4 KiB pub/sub msgs/s ≥ raw TCP (one write per message), ipc", "= 0.50×: NOT met"},
		{"fan-out falls", []fig{{"zmp", fanoutTo(1), spec.MsgsPerSec, 2e6}, {"zmp", fanoutTo(4), spec.MsgsPerSec, 1.9e6}, {"zmp", fanoutTo(16), spec.MsgsPerSec, 1.5e6}},
			"fan-out msgs/s (total) does not fall", "zmp 2.00 M (1) → 1.90 M (4) → 1.50 M (16): lowest 0.75× of 1 subscriber's: NOT met"},
		{"fan-out grows", []fig{{"zmp", fanoutTo(1), spec.MsgsPerSec, 1e6}, {"zmp", fanoutTo(4), spec.MsgsPerSec, 1.5e6}, {"zmp", fanoutTo(16), spec.MsgsPerSec, 1.2e6}},
			"fan-out msgs/s (total) does not fall", "lowest 1.20× of 1 subscriber's: met"},
		{"fan-out to 16 behind NATS", []fig{{"zmp", fanoutTo(16), spec.MsgsPerSec, 1.6e6}, {"nats", fanoutTo(16), spec.MsgsPerSec, 3.2e6}},
			"fan-out to 16 msgs/s (total) ≥ NATS", "= 0.50×: NOT met"},
		{"CURVE round trip faster than libzmq's", []fig{{"zmp", curveOf(rtt), spec.P50, 40}, {"libzmq", curveOf(rtt), spec.P50, 80}},
			"zmp CURVE ≥ libzmq CURVE: round trip p50, CURVE", "zmp 40.0 vs libzmq 80.0 = 0.50×: met"},
		{"CURVE round trip slower than libzmq's", []fig{{"zmp", curveOf(rtt), spec.P50, 90}, {"libzmq", curveOf(rtt), spec.P50, 60}},
			"zmp CURVE ≥ libzmq CURVE: round trip p50, CURVE", "= 1.50×: NOT met"},
		{"CURVE pub/sub behind libzmq", []fig{{"zmp", curveOf(pubsubOn(spec.Small, spec.TCP)), spec.MsgsPerSec, 300e3}, {"libzmq", curveOf(pubsubOn(spec.Small, spec.TCP)), spec.MsgsPerSec, 400e3}},
			"zmp CURVE ≥ libzmq CURVE: pub/sub 64 B, CURVE", "= 0.75×: NOT met"},
		{"CURVE 64 in flight, libzmq failed", []fig{{"zmp", curveOf(inflightOn(64, spec.TCP)), spec.CallsPerSec, 100e3}, {"libzmq", curveOf(inflightOn(64, spec.TCP)), spec.CallsPerSec, -1}},
			"zmp CURVE ≥ libzmq CURVE: 64 calls in flight, CURVE", "not measured in this run"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := judge(t, synthRun(c.figs...), c.target); !strings.HasSuffix(got, c.want) {
				t.Errorf("got %q, want it to end in %q", got, c.want)
			}
		})
	}
}

// leadTargets returns the targets of the lead-every-figure goal.
func leadTargets(run *harness.Run) []target {
	return slices.DeleteFunc(targets(index(run)), func(t target) bool { return !strings.HasPrefix(t.name, "zmp ≥ the best of") })
}

func TestLeadTargets(t *testing.T) {
	rtt, in64, ps := rttOn(spec.TCP), inflightOn(64, spec.TCP), pubsubOn(spec.Small, spec.TCP)
	for _, c := range []struct {
		name string
		figs []fig
		want []string // each target's name and verdict, joined by " | "
	}{
		{"all led", []fig{
			{"zmp", rtt, spec.P50, 30}, {"libzmq", rtt, spec.P50, 70}, {"zmq4", rtt, spec.P50, 50},
			{"zmp", ps, spec.MsgsPerSec, 2e6}, {"zmp", ps, spec.MBPerSec, 128}, {"nats", ps, spec.MsgsPerSec, 1.8e6}, {"nats", ps, spec.MBPerSec, 115},
			{"tcp", in64, spec.CallsPerSec, 900e3}, {"zmp", in64, spec.CallsPerSec, 200e3},
		}, []string{"zmp ≥ the best of libzmq, NATS, zmq4 on every figure | zmp leads on all 2 figures that a rival has: met"}},
		{"behind the best rival only", []fig{
			{"zmp", in64, spec.CallsPerSec, 200e3}, {"libzmq", in64, spec.CallsPerSec, 250e3}, {"nats", in64, spec.CallsPerSec, 90e3},
			{"zmp", fanoutTo(4), spec.MsgsPerSec, 1.7e6}, {"libzmq", fanoutTo(4), spec.MsgsPerSec, 1.8e6}, {"nats", fanoutTo(4), spec.MsgsPerSec, 3.4e6},
			{"zmp", ps, spec.MsgsPerSec, 2e6}, {"libzmq", ps, spec.MsgsPerSec, 0.7e6},
		}, []string{
			"zmp ≥ the best of libzmq, NATS, zmq4: 64 calls in flight, calls/s, tcp | zmp 200 k vs libzmq 250 k = 0.80×: NOT met",
			"zmp ≥ the best of libzmq, NATS, zmq4: fan-out to 4, 64 B, msgs/s (total), tcp | zmp 1.70 M vs nats 3.40 M = 0.50×: NOT met",
		}},
		{"lower is better", []fig{
			{"zmp", rtt, spec.P99, 90}, {"libzmq", rtt, spec.P99, 75}, {"zmq4", rtt, spec.P99, 120},
			{"zmp", rtt, spec.P50, 30}, {"libzmq", rtt, spec.P50, 30},
		}, []string{"zmp ≥ the best of libzmq, NATS, zmq4: round trip p99, µs, tcp | zmp 90.0 vs libzmq 75.0 = 1.20×: NOT met"}},
		{"zmp failed", []fig{{"zmp", curveOf(rtt), spec.P50, -1}, {"libzmq", curveOf(rtt), spec.P50, 80}},
			[]string{"zmp ≥ the best of libzmq, NATS, zmq4: round trip p50, CURVE, µs, tcp | zmp has no figure, libzmq 80.0: NOT met"}},
		{"no rival", []fig{{"zmp", rtt, spec.P50, 30}, {"tcp", rtt, spec.P50, 20}},
			[]string{"zmp ≥ the best of libzmq, NATS, zmq4 on every figure | not measured in this run"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, tg := range leadTargets(synthRun(c.figs...)) {
				got = append(got, tg.name+" | "+tg.verdict())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// The cost table divides each system's CURVE figure by its own NULL
// figure of the same case, in Markdown and on the terminal.
func TestCurveCostTable(t *testing.T) {
	in64 := inflightOn(64, spec.TCP)
	rtt := rttOn(spec.TCP)
	run := synthRun(
		fig{"zmp", rtt, spec.P50, 30}, fig{"libzmq", rtt, spec.P50, 60}, fig{"tcp", rtt, spec.P50, 20}, fig{"nats", rtt, spec.P50, 55},
		fig{"zmp", curveOf(rtt), spec.P50, 45}, fig{"libzmq", curveOf(rtt), spec.P50, 66},
		fig{"zmp", in64, spec.CallsPerSec, 200e3}, fig{"libzmq", in64, spec.CallsPerSec, 240e3},
		fig{"zmp", curveOf(in64), spec.CallsPerSec, 100e3}, fig{"libzmq", curveOf(in64), spec.CallsPerSec, -1},
	)
	var md, txt bytes.Buffer
	Markdown(&md, run)
	Text(&txt, run)
	for _, want := range []string{
		"## CURVE ÷ NULL cost",
		"| case | transport | zmp NULL | zmp CURVE | zmp CURVE ÷ NULL | libzmq NULL | libzmq CURVE | libzmq CURVE ÷ NULL |",
		"| round trip p50, µs | tcp | 30.0 | 45.0 | 1.50× | 60.0 | 66.0 | 1.10× |",
		"| 64 calls in flight, calls/s | tcp | 200 k | 100 k | 0.50× | 240 k | failed |  |",
		"| round trip p50, CURVE, µs | tcp | 45.0 | 66.0 (1.47×) | – | – |  |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	for _, want := range []string{"CURVE ÷ NULL cost", "1.50×", "0.50×", "1.10×"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, txt.String())
		}
	}
	if strings.Contains(md.String(), "nats NULL") || strings.Contains(md.String(), "tcp NULL") {
		t.Errorf("the cost table has a system without CURVE:\n%s", md.String())
	}
	var none bytes.Buffer
	Markdown(&none, synthRun(fig{"zmp", rtt, spec.P50, 30}, fig{"libzmq", rtt, spec.P50, 60}))
	if strings.Contains(none.String(), "CURVE ÷ NULL") {
		t.Errorf("a cost table without CURVE variants:\n%s", none.String())
	}
}
