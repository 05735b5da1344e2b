package core

import (
	"os"
	"strings"
)

// EnvRegistry names the environment variable read by RegistryFromEnv.
const EnvRegistry = "ZMP_REGISTRY"

// RegistryFromEnv returns the registry named by $ZMP_REGISTRY: a
// tcp:// or ipc:// endpoint means a registry node (NewRemoteRegistry);
// "dir://PATH" or a path is a directory for NewDirRegistry; another
// "SCHEME://" is an error (ErrRegistryScheme: RegistryFromEnv takes no
// WithRegistryOpener; use ParseRegistry); empty means
// DefaultRegistryDir, which must belong to this user and not be
// writable by others.
func RegistryFromEnv() (Registry, error) {
	return ParseRegistry(os.Getenv(EnvRegistry))
}

// ParseRegistry interprets a registry address as RegistryFromEnv does.
// opts configure the client of a registry node (tcp:// or ipc://), for
// example WithSecurity; "?key=Z85" after its endpoint gives a CURVE
// registry node's public key. An address "SCHEME://..." of a scheme
// given with WithRegistryOpener in opts is opened by that opener, with
// opts.
func ParseRegistry(addr string, opts ...Option) (Registry, error) {
	if r, handled, err := openWithScheme(addr, opts); handled {
		return r, err
	}
	switch {
	case addr == "":
		r, err := NewDirRegistry(DefaultRegistryDir())
		if err != nil {
			return nil, err
		}
		return r, checkPrivateDir(r.Dir())
	case strings.HasPrefix(addr, "tcp://"), strings.HasPrefix(addr, "ipc://"):
		return NewRemoteRegistry(addr, opts...)
	}
	return NewDirRegistry(strings.TrimPrefix(addr, "dir://"))
}
