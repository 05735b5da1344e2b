package feedback

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Names of the three series every Trace has, as they appear in its CSV
// header and plot legends.
const (
	SeriesSetpoint    = "setpoint"
	SeriesMeasurement = "measurement"
	SeriesActuation   = "actuation"
)

// Trace records a control loop window by window: the time at the end of
// each window, the set point, the measurement, the actuation and any extra
// named series (a baseline without control, the load, rejections, another
// limiter's measurement for a side-by-side plot). Series keep the order
// they were named in, so output is deterministic.
type Trace struct {
	times  []time.Duration
	names  []string
	values [][]float64 // values[i] is series names[i]
}

// NewTrace returns an empty trace with the three standard series followed
// by the extra series named. Names must be unique and not empty.
func NewTrace(extra ...string) (*Trace, error) {
	names := append([]string{SeriesSetpoint, SeriesMeasurement, SeriesActuation}, extra...)
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || seen[n] {
			return nil, fmt.Errorf("%w: trace series name %q empty or repeated", ErrSimConfig, n)
		}
		seen[n] = true
	}
	return &Trace{names: names, values: make([][]float64, len(names))}, nil
}

// Add appends one window: its end time, set point, measurement, actuation
// and one value per extra series, in the order given to NewTrace. Use NaN
// for a value that was not measured; plots leave a gap there.
func (t *Trace) Add(at time.Duration, setpoint, measurement, actuation float64, extra ...float64) error {
	if len(extra) != len(t.names)-3 {
		return fmt.Errorf("%w: trace has %d extra series, Add got %d", ErrSimConfig, len(t.names)-3, len(extra))
	}
	t.times = append(t.times, at)
	row := append([]float64{setpoint, measurement, actuation}, extra...)
	for i, v := range row {
		t.values[i] = append(t.values[i], v)
	}
	return nil
}

// Len returns the number of windows recorded.
func (t *Trace) Len() int { return len(t.times) }

// Names returns the series names in order; the slice is a copy.
func (t *Trace) Names() []string { return append([]string(nil), t.names...) }

// Series returns the values of the named series and whether it exists.
// The slice is the trace's own: read it, do not modify or keep it across Add.
func (t *Trace) Series(name string) ([]float64, bool) {
	for i, n := range t.names {
		if n == name {
			return t.values[i], true
		}
	}
	return nil, false
}

// WriteCSV writes the trace as CSV: a header "time_s" then the series
// names, and one row per window with the time in seconds and each value
// with six decimals (NaN written empty). The bytes depend only on the
// recorded values.
func (t *Trace) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("time_s")
	for _, n := range t.names {
		bw.WriteByte(',')
		bw.WriteString(csvField(n))
	}
	bw.WriteByte('\n')
	for r, at := range t.times {
		bw.WriteString(strconv.FormatFloat(at.Seconds(), 'f', 6, 64))
		for i := range t.names {
			bw.WriteByte(',')
			if v := t.values[i][r]; !math.IsNaN(v) {
				bw.WriteString(strconv.FormatFloat(v, 'f', 6, 64))
			}
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func csvField(s string) string {
	for _, r := range s {
		if r == ',' || r == '"' || r == '\n' || r == '\r' {
			return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
		}
	}
	return s
}
