package main

import (
	"fmt"
	"math"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func hzCommand() *cli.Command {
	return &cli.Command{
		Name:      "hz",
		Category:  "inspect and drive",
		Usage:     "measure a topic's message rate, bandwidth and message size",
		ArgsUsage: "TOPIC",
		Description: "Every --interval prints the rate (from the gaps between the last --window arrivals),\n" +
			"the shortest, longest and standard deviation of those gaps, bytes per second and the\n" +
			"average message size over the window. With --json, one JSON object per line.",
		Flags: []cli.Flag{
			registryFlag(), prefixFlag(),
			&cli.IntFlag{Name: "window", Value: 100, Usage: "messages the statistics are computed over", EnvVars: []string{"ZMP_WINDOW"}},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "how often to print", EnvVars: []string{"ZMP_INTERVAL"}},
			durationFlag(),
			jsonFlag("print each report as a line of JSON (and no progress)"),
		},
		Action: hz,
	}
}

// sample is the arrival of one message.
type sample struct {
	at   time.Time
	size int
}

// rateWindow keeps the last samples, a bounded ring.
type rateWindow struct {
	buf   []sample
	next  int
	full  bool
	total uint64
}

func newRateWindow(n int) *rateWindow { return &rateWindow{buf: make([]sample, n)} }

func (w *rateWindow) add(s sample) {
	w.buf[w.next] = s
	w.next = (w.next + 1) % len(w.buf)
	w.full = w.full || w.next == 0
	w.total++
}

// samples returns the window oldest first.
func (w *rateWindow) samples() []sample {
	if !w.full {
		return w.buf[:w.next]
	}
	return append(append([]sample(nil), w.buf[w.next:]...), w.buf[:w.next]...)
}

// hzReport is one line of hz.
type hzReport struct {
	Topic      string  `json:"topic"`
	Time       string  `json:"time"`
	New        uint64  `json:"new"`    // messages since the last report
	Total      uint64  `json:"total"`  // messages since the start
	Window     int     `json:"window"` // messages the figures below are computed over
	RateHz     float64 `json:"rate_hz"`
	MinGapS    float64 `json:"min_gap_s"`
	MaxGapS    float64 `json:"max_gap_s"`
	StdDevS    float64 `json:"stddev_s"`
	BytesPerS  float64 `json:"bytes_per_s"`
	AvgBytes   float64 `json:"avg_bytes"`
	Dropped    uint64  `json:"dropped"` // by zmptool's subscription queue
	Missed     uint64  `json:"missed"`  // gaps in the publishers' sequence numbers
	Publishers int     `json:"publishers"`
}

// measure computes the figures of a window of samples, oldest first.
// Rate and bandwidth need two samples: the first one's bytes are not
// counted, since it only opens the measured time span.
func measure(samples []sample) (r hzReport) {
	r.Window = len(samples)
	if len(samples) == 0 {
		return r
	}
	var bytes int
	for _, s := range samples {
		bytes += s.size
	}
	r.AvgBytes = float64(bytes) / float64(len(samples))
	if len(samples) < 2 {
		return r
	}
	span := samples[len(samples)-1].at.Sub(samples[0].at).Seconds()
	gaps := len(samples) - 1
	r.MinGapS = math.Inf(1)
	var sum, sumSq float64
	for i := 1; i < len(samples); i++ {
		g := samples[i].at.Sub(samples[i-1].at).Seconds()
		r.MinGapS, r.MaxGapS = math.Min(r.MinGapS, g), math.Max(r.MaxGapS, g)
		sum += g
		sumSq += g * g
	}
	mean := sum / float64(gaps)
	r.StdDevS = math.Sqrt(math.Max(sumSq/float64(gaps)-mean*mean, 0))
	if span > 0 {
		r.RateHz = float64(gaps) / span
		r.BytesPerS = float64(bytes-samples[0].size) / span
	}
	return r
}

func hz(c *cli.Context) error {
	if c.Int("window") < 1 || c.Duration("interval") <= 0 {
		return usageError{fmt.Errorf("hz: --window and --interval must be positive")}
	}
	topic := c.Args().First()
	win := newRateWindow(c.Int("window"))
	var reported uint64
	return streamTopic(c, stream{
		onMessage: func(m core.Message, at time.Time) error {
			win.add(sample{at, len(m.Data)})
			return nil
		},
		onTick: func(now time.Time, sub *core.Subscription) error {
			r := measure(win.samples())
			r.Topic, r.Time, r.New, r.Total = topic, now.UTC().Format(time.RFC3339Nano), win.total-reported, win.total
			reported = win.total
			st := sub.Stats()
			r.Dropped, r.Missed, r.Publishers = st.Dropped, st.Missed, st.Publishers
			return printHz(c, r)
		},
	})
}

func printHz(c *cli.Context, r hzReport) error {
	if c.Bool("json") {
		return printJSONLine(c.App.Writer, r)
	}
	var err error
	switch {
	case r.New == 0:
		_, err = fmt.Fprintf(c.App.Writer, "no new messages (%d in total)\n", r.Total)
	case r.Window < 2:
		_, err = fmt.Fprintf(c.App.Writer, "1 message, %s\n", byteSize(r.AvgBytes))
	default:
		_, err = fmt.Fprintf(c.App.Writer, "rate %.2f Hz  min %s  max %s  std %s  %s/s  avg %s  window %d  dropped %d  missed %d\n",
			r.RateHz, seconds(r.MinGapS), seconds(r.MaxGapS), seconds(r.StdDevS), byteSize(r.BytesPerS), byteSize(r.AvgBytes), r.Window, r.Dropped, r.Missed)
	}
	return err
}

func seconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(10 * time.Microsecond).String()
}
