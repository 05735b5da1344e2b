package core

import (
	"context"
	"errors"
	"time"
)

// The registrar keeps the peer's registry entry: it is written when
// the peer starts, when services or topics change, and renewed every
// third of the lease. When the registry cannot be reached the peer goes
// on serving, and the registrar retries soon and often until it can.

// register writes the peer's entry as it is now.
func (p *Peer) register(ctx context.Context) error {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	if p.leaving || p.ctx.Err() != nil {
		return ErrClosed
	}
	return p.reg.Register(ctx, p.Info(), p.cfg.leaseTTL)
}

// requestRegistration asks the registrar to write the entry now.
func (p *Peer) requestRegistration() {
	select {
	case p.regKick <- struct{}{}:
	default:
	}
}

// Retry pauses of the registrar after a failed write.
const (
	minRegRetry = 100 * time.Millisecond
	maxRegRetry = time.Second
)

func (p *Peer) registrarLoop() {
	defer p.wg.Done()
	renew := p.cfg.leaseTTL / 3
	retry := minRegRetry
	t := time.NewTimer(renew)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		case <-p.regKick:
			t.Stop()
		}
		ctx, cancel := context.WithTimeout(p.ctx, renew)
		err := p.register(ctx)
		cancel()
		switch {
		case errors.Is(err, ErrClosed) || p.ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				p.cfg.logger.Warn("zmp: cannot write the registry entry; retrying", "node", p.name, "err", err)
			}
			failing = true
			t.Reset(min(retry, renew))
			retry = min(2*retry, maxRegRetry)
		default:
			if failing {
				p.cfg.logger.Info("zmp: registry entry written again", "node", p.name)
			}
			failing, retry = false, minRegRetry
			t.Reset(renew)
		}
	}
}

// reregister publishes a change of services or topics. When the
// registry is unavailable the change is left to the registrar, which
// writes it as soon as the registry answers: the change holds locally
// at once.
func (p *Peer) reregister() error {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.leaseTTL/3)
	defer cancel()
	err := p.register(ctx)
	switch {
	case errors.Is(err, context.Canceled) && p.ctx.Err() != nil:
		return ErrClosed
	case errors.Is(err, ErrRegistryUnavailable):
		p.requestRegistration()
		return nil
	}
	return err
}

// leave removes the peer's registry entry once. A registry that cannot
// be reached is not an error here: a registry node drops the entries of
// a connection that closes, and every registry lets the lease expire.
func (p *Peer) leave(ctx context.Context) error {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	if p.leaving {
		return nil
	}
	p.leaving = true
	err := p.reg.Deregister(ctx, p.name, p.id)
	if errors.Is(err, ErrRegistryUnavailable) {
		p.cfg.logger.Debug("zmp: registry unavailable when leaving it", "node", p.name, "err", err)
		return nil
	}
	return err
}
