package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/gozmp/zmp/bench/hitratio"
)

// Files written to --out.
const (
	hitratioMarkdown = "hitratio.md"
	hitratioJSON     = "hitratio.json"
)

// hitratioReport is the JSON document of a run.
type hitratioReport struct {
	Config  hitratioConfig    `json:"config"`
	Machine map[string]string `json:"machine"`
	Rows    []hitratio.Row    `json:"rows"`
}

func hitratioAction(c *cli.Context) error {
	cfg, err := parseHitratio(c)
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	traces, err := makeTraces(&cfg, stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	rows, err := hitratio.Compare(c.Context, hitratio.Config{Traces: traces, Capacities: cfg.Capacities,
		Contenders: pickContenders(cfg.Policies), Progress: func(r hitratio.Result) {
			fmt.Fprintf(stderr, "hitratio: %s %s %-9s %6.2f%% (%.1fs)\n", r.Trace,
				capacityLabel(r.Capacity, cfg.Keys), r.Policy, 100*r.HitRatio, r.Seconds)
		}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "hitratio: %d replays in %.1fs\n", len(rows)*len(cfg.Policies), time.Since(start).Seconds())
	rep := hitratioReport{Config: cfg, Machine: machine(), Rows: rows}
	if c.Bool("json") {
		err = writeJSON(c.App.Writer, rep)
	} else {
		err = writeHitratioTable(c.App.Writer, rep, false)
	}
	if err != nil {
		return err
	}
	if dir := c.String("out"); dir != "" {
		return writeHitratioFiles(dir, rep, stderr)
	}
	return nil
}

func makeTraces(cfg *hitratioConfig, stderr io.Writer) ([]*hitratio.Trace, error) {
	var traces []*hitratio.Trace
	for _, name := range cfg.Traces {
		fmt.Fprintf(stderr, "hitratio: generating %s trace, %d keys, %d requests, seed %d\n", name, cfg.Keys, cfg.Length, cfg.Seed)
		var t *hitratio.Trace
		var err error
		switch name {
		case traceZipf:
			t, err = hitratio.ZipfTrace(cfg.Keys, cfg.Length, cfg.ZipfS, cfg.Seed)
		case traceOLTP:
			m := hitratio.DefaultOLTP(cfg.Keys)
			cfg.OLTP = m
			t, err = m.Generate(cfg.Length, cfg.Seed)
		}
		if err != nil {
			return nil, err
		}
		traces = append(traces, t)
	}
	return traces, nil
}

// machine describes where the figures were taken, and the versions of
// the compared caches in this build.
func machine() map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if strings.Contains(d.Path, "golang-lru") || strings.Contains(d.Path, "otter") || strings.Contains(d.Path, "ristretto") {
				m[d.Path] = d.Version
			}
		}
	}
	return m
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeHitratioFiles(dir string, rep hitratioReport, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{hitratioMarkdown, func(w io.Writer) error { return writeHitratioTable(w, rep, true) }},
		{hitratioJSON, func(w io.Writer) error { return writeJSON(w, rep) }},
	} {
		path := filepath.Join(dir, f.name)
		if err := writeFile(path, f.write); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "wrote", path)
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
