package core

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRegistryScheme is returned for a registry address of the form
// "SCHEME://..." whose scheme is neither one core knows (tcp, ipc, dir)
// nor one given to WithRegistryOpener.
var ErrRegistryScheme = errors.New("core: unknown registry address scheme")

// RegistryOpener opens a registry from an address of a scheme core does
// not know itself, such as the replicated registry of
// toolbox/consensus ("kv://..."). addr is the whole address, scheme
// included; opts are the options the caller gave, the security of the
// peer among them. A Registry that is an io.Closer is closed by the
// peer that opened it.
type RegistryOpener func(addr string, opts ...Option) (Registry, error)

// WithRegistryOpener lets ParseRegistry, WithRegistryAddress and
// $ZMP_REGISTRY accept addresses "SCHEME://...", opened by open.
// Default: none; core reads tcp://, ipc://, dir:// and plain paths.
// scheme is lower-case letters, digits, '+', '-' or '.', and cannot be
// one of core's own. A child process gets it only through the
// Launcher's WithNodeOptions, because a function cannot be passed to
// another process.
func WithRegistryOpener(scheme string, open RegistryOpener) Option {
	return func(c *config) error {
		if err := checkScheme(scheme); err != nil {
			return err
		}
		if open == nil {
			return errors.New("core: WithRegistryOpener with a nil opener")
		}
		if c.registryOpeners == nil {
			c.registryOpeners = map[string]RegistryOpener{}
		}
		c.registryOpeners[scheme] = open
		return nil
	}
}

func checkScheme(scheme string) error {
	switch scheme {
	case "":
		return errors.New("core: WithRegistryOpener with an empty scheme")
	case "tcp", "ipc", "dir":
		return fmt.Errorf("core: WithRegistryOpener cannot replace core's own scheme %q", scheme)
	}
	for _, r := range scheme {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '+' && r != '-' && r != '.' {
			return fmt.Errorf("core: registry scheme %q: only lower-case letters, digits, '+', '-' and '.'", scheme)
		}
	}
	return nil
}

// openWithScheme opens addr with the opener of its scheme. handled is
// false for addresses core reads itself (no scheme, tcp, ipc, dir).
func openWithScheme(addr string, opts []Option) (r Registry, handled bool, err error) {
	scheme, _, ok := strings.Cut(addr, "://")
	if !ok || strings.ContainsAny(scheme, `/\`) {
		return nil, false, nil
	}
	switch scheme {
	case "tcp", "ipc", "dir":
		return nil, false, nil
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, true, err
	}
	open := cfg.registryOpeners[scheme]
	if open == nil {
		return nil, true, fmt.Errorf("%w %q in %q: give the peer WithRegistryOpener for it", ErrRegistryScheme, scheme, addr)
	}
	r, err = open(addr, opts...)
	if err == nil && r == nil {
		err = fmt.Errorf("core: the opener of scheme %q returned no registry", scheme)
	}
	return r, true, err
}

// openerOptions gives the registry openers of c as options again.
func (c *config) openerOptions() []Option {
	var opts []Option
	for s, o := range c.registryOpeners {
		opts = append(opts, WithRegistryOpener(s, o))
	}
	return opts
}
