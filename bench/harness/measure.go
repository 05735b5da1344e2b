package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"syscall"
	"time"

	"github.com/gozmp/zmp/bench/spec"
)

// Timeouts of the driver's conversation with its workers.
const (
	startTimeout  = 30 * time.Second // a worker is ready
	resultTimeout = 30 * time.Second // a result, beyond the window
	exitGrace     = 10 * time.Second // a worker exits after its result
)

// Measurement is one run of one system on one variant.
type Measurement struct {
	System  string             `json:"system"`
	ID      string             `json:"id"`
	Variant spec.Variant       `json:"variant"`
	Rep     int                `json:"rep"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
	Server  map[string]float64 `json:"server_stats,omitempty"`
	Client  map[string]float64 `json:"client_stats,omitempty"`
	Error   string             `json:"error,omitempty"`
	Seconds float64            `json:"seconds"` // wall time, processes included
}

// pair is the two worker processes of a measurement.
type pair struct {
	cfg      *Config
	job      Job
	srv, cli *proc
}

// measure runs one measurement: a server process, then a client
// process, conducted as the case needs.
func measure(ctx context.Context, cfg *Config, system string, v spec.Variant, rep int) Measurement {
	start := time.Now()
	m := Measurement{System: system, ID: v.ID(), Variant: v, Rep: rep}
	dir, err := os.MkdirTemp("", "zmpbench-")
	if err == nil {
		defer os.RemoveAll(dir)
		p := &pair{cfg: cfg, job: Job{System: system, Variant: v, Dir: dir, Duration: cfg.Duration, Warmup: cfg.Warmup}}
		if v.Case == spec.RTT {
			p.job.CPUs = cfg.PinRTT
		}
		err = p.run(ctx, &m)
	}
	if err != nil {
		m.Error = err.Error()
	}
	m.Seconds = time.Since(start).Seconds()
	return m
}

func (p *pair) start(role string) (*proc, error) {
	name := role + " " + p.job.System
	return startProc(name, p.cfg.exe(p.job.System), p.job.Args(role), workerEnv(p.job.Dir), p.cfg.stderr, p.cfg.RSSLimitMiB<<10)
}

func (p *pair) run(ctx context.Context, m *Measurement) (err error) {
	if p.srv, err = p.start(RoleServe); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopErr(p.srv, exitGrace)) }()
	ready, err := p.srv.expect(true, startTimeout)
	if err != nil {
		return err
	}
	p.job.Addr = ready.Addr
	if p.cli, err = p.start(RoleDrive); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopErr(p.cli, exitGrace)) }()
	srvRes, cliRes, err := p.conduct(ctx)
	if err != nil {
		return err
	}
	m.Metrics = maps.Clone(cliRes.Metrics)
	if m.Metrics == nil {
		m.Metrics = map[string]float64{}
	}
	m.Metrics[spec.ServerRSSMiB] = float64(srvRes.HWMKiB) / 1024
	m.Metrics[spec.ClientRSSMiB] = float64(cliRes.HWMKiB) / 1024
	m.Server, m.Client = srvRes.Stats, cliRes.Stats
	return errors.Join(resultError("server", srvRes), resultError("client", cliRes))
}

// conduct drives the measurement to both results.
func (p *pair) conduct(ctx context.Context) (srv, cli *Result, err error) {
	v := p.job.Variant
	if !v.IsRPC() {
		if _, err := p.cli.expect(true, startTimeout); err != nil {
			return nil, nil, err
		}
		if v.Case == spec.Stalled {
			return p.stalled(ctx)
		}
		if err := p.srv.order(orderStart); err != nil {
			return nil, nil, err
		}
	}
	if cli, err = p.result(p.cli, p.job.Warmup+p.job.Duration+startTimeout); err != nil {
		return nil, nil, err
	}
	p.srv.closeInput()
	srv, err = p.result(p.srv, resultTimeout)
	return srv, cli, err
}

// stalled stops the subscriber process (SIGSTOP) and lets the
// publisher publish for the window. It then resumes the subscriber
// before stopping the publisher, whose peak RSS is already recorded
// (VmHWM): a broker would otherwise wait out its write deadline on the
// stopped connection while it shuts down.
func (p *pair) stalled(ctx context.Context) (srv, cli *Result, err error) {
	if err := p.cli.signal(syscall.SIGSTOP); err != nil {
		return nil, nil, err
	}
	defer p.cli.signal(syscall.SIGCONT)
	if err := p.srv.order(orderStart); err != nil {
		return nil, nil, err
	}
	if err := sleep(ctx, nil, p.job.Warmup+p.job.Duration); err != nil {
		return nil, nil, err
	}
	p.cli.signal(syscall.SIGCONT)
	p.srv.closeInput()
	if srv, err = p.result(p.srv, resultTimeout); err != nil {
		return nil, nil, err
	}
	p.cli.closeInput()
	cli, err = p.result(p.cli, resultTimeout)
	return srv, cli, err
}

func (p *pair) result(w *proc, timeout time.Duration) (*Result, error) {
	l, err := w.expect(false, timeout)
	if err != nil {
		return nil, err
	}
	return l.Result, nil
}

func resultError(side string, r *Result) error {
	if r.Error == "" {
		return nil
	}
	return fmt.Errorf("%s: %s", side, r.Error)
}

// stopErr stops w and reports an exit error other than the one its
// result already explained.
func stopErr(w *proc, grace time.Duration) error {
	if err := w.stop(grace); err != nil && !w.reported() {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	return nil
}
