package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"time"

	"github.com/gozmp/zmp/bench/spec"
)

// scaleStartTimeout bounds how long a scale worker takes to be ready:
// a thousand peers take a while to start and connect on a loaded
// machine.
const scaleStartTimeout = 2 * time.Minute

// scalePair is the two worker processes of a scale measurement.
type scalePair struct {
	cfg      *Config
	job      ScaleJob
	srv, cli *proc
}

// measureScale runs one measurement of one point.
func measureScale(ctx context.Context, cfg *Config, pt spec.ScalePoint, rep, samples int) ScaleMeasurement {
	start := time.Now()
	m := ScaleMeasurement{ID: pt.ID(), Point: pt, Rep: rep}
	dir, err := os.MkdirTemp("", "zmpbench-scale-")
	if err == nil {
		defer os.RemoveAll(dir)
		p := &scalePair{cfg: cfg, job: ScaleJob{Point: pt, Dir: dir, Duration: cfg.Duration, Warmup: cfg.Warmup, Samples: samples}}
		err = p.run(ctx, &m)
	}
	if err != nil {
		m.Error = err.Error()
	}
	m.Seconds = time.Since(start).Seconds()
	return m
}

func (p *scalePair) start(role string) (*proc, error) {
	return startProc(role+" zmp "+p.job.Point.ID(), p.cfg.exe("zmp"), p.job.Args(role), workerEnv(p.job.Dir), p.cfg.stderr, p.cfg.RSSLimitMiB<<10)
}

func (p *scalePair) run(ctx context.Context, m *ScaleMeasurement) (err error) {
	if p.srv, err = p.start(RoleScaleServe); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopErr(p.srv, exitGrace)) }()
	ready, err := p.srv.expect(true, scaleStartTimeout)
	if err != nil {
		return err
	}
	p.job.Addr = ready.Addr
	if p.cli, err = p.start(RoleScaleDrive); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopErr(p.cli, exitGrace)) }()
	cli, err := p.conduct(ctx)
	if err != nil {
		return err
	}
	var listed float64
	if c := p.job.Point.Case; c == spec.ScaleRegistryDir || c == spec.ScaleRegistryNode {
		if listed, err = p.listNodes(ctx); err != nil {
			return err
		}
	}
	p.srv.closeInput()
	srv, err := p.srv.result(resultTimeout)
	if err != nil {
		return err
	}
	m.Metrics = derive(p.job.Point, srv, cli)
	if listed > 0 {
		m.Metrics[spec.ListNodesMs] = listed
	}
	m.Server, m.Client = srv.Stats, cli.Stats
	return errors.Join(resultError("server", srv), resultError("client", cli))
}

// conduct drives the client to its result: for callers and
// subscribers, with the server's samples of its resident set once every
// client is connected and in the middle of the window.
func (p *scalePair) conduct(ctx context.Context) (*Result, error) {
	c := p.job.Point.Case
	if c != spec.ScaleCallers && c != spec.ScaleSubscribers {
		return p.cli.result(time.Duration(p.job.Samples+1) * sampleTimeout)
	}
	if _, err := p.cli.expect(true, scaleStartTimeout); err != nil {
		return nil, err
	}
	if err := p.sample(); err != nil {
		return nil, err
	}
	starter := p.cli
	if c == spec.ScaleSubscribers {
		starter = p.srv
	}
	if err := starter.order(orderStart); err != nil {
		return nil, err
	}
	if err := sleep(ctx, nil, p.job.Warmup+p.job.Duration/2); err != nil {
		return nil, err
	}
	if err := p.sample(); err != nil {
		return nil, err
	}
	return p.cli.result(p.job.Warmup + p.job.Duration + startTimeout)
}

// sample has the server sample its resident set and waits for it.
func (p *scalePair) sample() error {
	if err := p.srv.order(orderSample); err != nil {
		return err
	}
	_, err := p.srv.expect(true, startTimeout)
	return err
}

// derive computes a point's metrics from both sides' results.
func derive(pt spec.ScalePoint, srv, cli *Result) map[string]float64 {
	m := maps.Clone(cli.Metrics)
	if m == nil {
		m = map[string]float64{}
	}
	maps.Copy(m, srv.Metrics)
	n := float64(pt.Size)
	if idle, ok := srv.Stats[rssIdle]; ok {
		if v, ok := srv.Stats[rssConnected]; ok {
			m[spec.RSSPerConnKiB] = (v - idle) / n
		}
		if v, ok := srv.Stats[rssLoaded]; ok {
			m[spec.RSSPerConnLoadKiB] = (v - idle) / n
		}
	}
	m[spec.ServerRSSMiB] = float64(srv.HWMKiB) / 1024
	m[spec.ClientRSSMiB] = float64(cli.HWMKiB) / 1024
	return m
}

// listNodes times `zmptool list nodes` against the registry, Samples
// times, and returns the median in ms (0 without zmptool). It checks
// that every node was listed.
func (p *scalePair) listNodes(ctx context.Context) (float64, error) {
	if p.cfg.Scale.Zmptool == "" {
		return 0, nil
	}
	var took []float64
	for range max(p.job.Samples, 1) {
		var out, errOut bytes.Buffer
		cmd := exec.CommandContext(ctx, p.cfg.Scale.Zmptool, "list", "nodes", "--registry", p.job.Addr, "--timeout", "30s")
		cmd.Env, cmd.Stdout, cmd.Stderr = workerEnv(p.job.Dir), &out, &errOut
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("zmptool list nodes: %w: %s", err, bytes.TrimSpace(errOut.Bytes()))
		}
		if lines := bytes.Count(out.Bytes(), []byte("\n")); lines < p.job.Point.Size {
			return 0, fmt.Errorf("zmptool list nodes listed %d lines for %d nodes", lines, p.job.Point.Size)
		}
		took = append(took, ms(d))
	}
	return median(took), nil
}

// result reads the process's result line.
func (w *proc) result(timeout time.Duration) (*Result, error) {
	l, err := w.expect(false, timeout)
	if err != nil {
		return nil, err
	}
	return l.Result, nil
}
