package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/hitratio"
)

// Trace names of --trace.
const (
	traceZipf = "zipf"
	traceOLTP = "oltp"
	traceAll  = "all"
)

func hitratioCommand() *cli.Command {
	return &cli.Command{
		Name:  "hitratio",
		Usage: "replay a Zipf and an OLTP-like trace against golang-lru's LRU, 2Q, ARC and W-TinyLFU caches, and report hit ratios (issue 11)",
		Description: "Every policy replays the same trace as a demand-filled cache (Get, then Add on a miss) at each capacity.\n" +
			"The gap is the best W-TinyLFU hit ratio minus the best golang-lru one, in percentage points;\n" +
			"the goal is a gap of at most 2 points. Progress goes to stderr.",
		OnUsageError: onUsageError,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "trace", Value: traceAll, EnvVars: []string{"ZMP_BENCH_TRACE"}, Usage: "zipf, oltp or all"},
			&cli.IntFlag{Name: "keys", Value: 100000, EnvVars: []string{"ZMP_BENCH_KEYS"}, Usage: "keys N of the Zipf trace, rows of the OLTP trace"},
			&cli.IntFlag{Name: "length", Value: 2000000, EnvVars: []string{"ZMP_BENCH_LENGTH"}, Usage: "requests per trace"},
			&cli.StringFlag{Name: "capacities", Value: "1%,5%,10%", EnvVars: []string{"ZMP_BENCH_CAPACITIES"}, Usage: "cache capacities in entries, comma-separated: a count, or a percentage of --keys"},
			&cli.Uint64Flag{Name: "seed", Value: 1, EnvVars: []string{"ZMP_BENCH_SEED"}, Usage: "seed of the trace generators"},
			&cli.Float64Flag{Name: "zipf-s", Value: 1.0, EnvVars: []string{"ZMP_BENCH_ZIPF_S"}, Usage: "exponent of the Zipf trace"},
			&cli.StringFlag{Name: "policies", Value: strings.Join(contenderNames(), ","), EnvVars: []string{"ZMP_BENCH_POLICIES"}, Usage: "policies to compare, comma-separated"},
			&cli.BoolFlag{Name: "json", EnvVars: []string{"ZMP_BENCH_JSON"}, Usage: "print JSON instead of the table"},
			&cli.StringFlag{Name: "out", EnvVars: []string{"ZMP_BENCH_OUT"}, Usage: "directory to also write hitratio.md and hitratio.json to (default: none)"},
		},
		Action: hitratioAction,
	}
}

// hitratioConfig is the parsed command line.
type hitratioConfig struct {
	Traces     []string `json:"traces"`
	Keys       int      `json:"keys"`
	Length     int      `json:"length"`
	Capacities []int    `json:"capacities"`
	Seed       uint64   `json:"seed"`
	ZipfS      float64  `json:"zipf_s"`
	Policies   []string `json:"policies"`
	OLTP       any      `json:"oltp_model,omitempty"`
}

func parseHitratio(c *cli.Context) (hitratioConfig, error) {
	cfg := hitratioConfig{Keys: c.Int("keys"), Length: c.Int("length"), Seed: c.Uint64("seed"), ZipfS: c.Float64("zipf-s")}
	if cfg.Keys < 1 || cfg.Length < 1 {
		return cfg, usage("--keys and --length must be at least 1")
	}
	if s := cfg.ZipfS; s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return cfg, usage("--zipf-s must be a finite number >= 0")
	}
	var err error
	if cfg.Traces, err = parseTraces(c.String("trace")); err != nil {
		return cfg, err
	}
	if cfg.Capacities, err = parseCapacities(c.String("capacities"), cfg.Keys); err != nil {
		return cfg, err
	}
	if cfg.Policies, err = parsePolicies(c.String("policies")); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func parseTraces(s string) ([]string, error) {
	var out []string
	for _, t := range split(s) {
		switch t {
		case traceAll:
			out = append(out, traceZipf, traceOLTP)
		case traceZipf, traceOLTP:
			out = append(out, t)
		default:
			return nil, usage("unknown trace %q (zipf, oltp, all)", t)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	slices.Reverse(out) // zipf first
	if len(out) == 0 {
		return nil, usage("no trace given")
	}
	return out, nil
}

// parseCapacities reads "1%,5%,1000": a percentage of keys (rounded, at
// least one entry) or a count.
func parseCapacities(s string, keys int) ([]int, error) {
	var out []int
	for _, f := range split(s) {
		var n int
		if p, ok := strings.CutSuffix(f, "%"); ok {
			x, err := strconv.ParseFloat(p, 64)
			if err != nil || !(x > 0) || x > 100 {
				return nil, usage("capacity %q: want a percentage in (0, 100]", f)
			}
			n = int(math.Round(x / 100 * float64(keys)))
		} else {
			x, err := strconv.Atoi(f)
			if err != nil {
				return nil, usage("capacity %q: want a count or a percentage", f)
			}
			n = x
		}
		if n < 1 {
			return nil, usage("capacity %q is less than one entry of %d keys", f, keys)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, usage("no capacity given")
	}
	return out, nil
}

func contenderNames() []string {
	var names []string
	for _, c := range contenders() {
		names = append(names, c.Name)
	}
	return names
}

// contenders are the policies --policies chooses from.
func contenders() []hitratio.Contender { return hitratio.Contenders() }

func parsePolicies(s string) ([]string, error) {
	names := split(s)
	known := contenderNames()
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, usage("unknown policy %q (%s)", n, strings.Join(known, ", "))
		}
	}
	var out []string // in the registry's order
	for _, n := range known {
		if slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, usage("no policy given")
	}
	return out, nil
}

func pickContenders(names []string) []hitratio.Contender {
	var out []hitratio.Contender
	for _, c := range contenders() {
		if slices.Contains(names, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// capacityLabel is "1000 (1%)".
func capacityLabel(capacity, keys int) string {
	return fmt.Sprintf("%d (%s%%)", capacity, strconv.FormatFloat(100*float64(capacity)/float64(keys), 'g', 3, 64))
}
