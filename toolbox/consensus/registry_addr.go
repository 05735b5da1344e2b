package consensus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
)

// RegistryScheme is the scheme of a replicated registry's address:
//
//	kv://[NAME@]ADDR[,ADDR...]
//
// where each ADDR is the raft address of one node of the store (its
// Transport's LocalAddr: "tcp://host:port", with "?key=Z85" under
// CURVE) and NAME the store's service name (default "kv"). Give it to
// core so that $ZMP_REGISTRY, core.WithRegistryAddress and
// core.ParseRegistry accept such addresses:
//
//	core.WithRegistryOpener(consensus.RegistryScheme, consensus.OpenRegistry)
const RegistryScheme = "kv"

// ParseRegistryAddress splits a "kv://" address into the store's
// service name and node addresses.
func ParseRegistryAddress(addr string) (name string, addrs []string, err error) {
	rest, ok := strings.CutPrefix(addr, RegistryScheme+"://")
	if !ok {
		return "", nil, fmt.Errorf("%w: registry address %q does not start with %s://", ErrBadConfig, addr, RegistryScheme)
	}
	name = DefaultServiceName
	if !strings.HasPrefix(rest, "tcp://") && !strings.HasPrefix(rest, "ipc://") {
		n, r, found := strings.Cut(rest, "@")
		if !found || n == "" {
			return "", nil, fmt.Errorf("%w: registry address %q: want kv://[NAME@]tcp://HOST:PORT[,...]", ErrBadConfig, addr)
		}
		name, rest = n, r
	}
	for _, a := range strings.Split(rest, ",") {
		if !strings.HasPrefix(a, "tcp://") && !strings.HasPrefix(a, "ipc://") {
			return "", nil, fmt.Errorf("%w: registry address %q: %q is not a tcp:// or ipc:// address", ErrBadConfig, addr, a)
		}
		addrs = append(addrs, a)
	}
	return name, addrs, nil
}

// OpenRegistry opens the replicated registry a "kv://" address names
// (see RegistryScheme); opts are options of its own peer, its security
// among them. It is a core.RegistryOpener.
func OpenRegistry(addr string, opts ...core.Option) (core.Registry, error) {
	name, addrs, err := ParseRegistryAddress(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return NewRegistry(ctx, addrs, name, opts...)
}

// Address returns the registry's "kv://" address, which OpenRegistry
// turns back into a registry: a core.Launcher passes it to the child
// processes it starts (give them the opener with core.WithNodeOptions).
func (r *Registry) Address() string {
	return RegistryScheme + "://" + r.name + "@" + strings.Join(r.addrs, ",")
}
