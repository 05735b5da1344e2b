package core

import (
	"os"
	"strings"
)

// EnvRegistry names the environment variable read by RegistryFromEnv.
const EnvRegistry = "ZMP_REGISTRY"

// RegistryFromEnv returns the registry named by $ZMP_REGISTRY: a
// tcp:// or ipc:// endpoint means a registry node (NewRemoteRegistry);
// anything else is a directory for NewDirRegistry; empty means
// DefaultRegistryDir, which must belong to this user and not be
// writable by others.
func RegistryFromEnv() (Registry, error) {
	return ParseRegistry(os.Getenv(EnvRegistry))
}

// ParseRegistry interprets a registry address as RegistryFromEnv does.
func ParseRegistry(addr string) (Registry, error) {
	switch {
	case addr == "":
		r, err := NewDirRegistry(DefaultRegistryDir())
		if err != nil {
			return nil, err
		}
		return r, checkPrivateDir(r.Dir())
	case strings.HasPrefix(addr, "tcp://"), strings.HasPrefix(addr, "ipc://"):
		return NewRemoteRegistry(addr)
	}
	return NewDirRegistry(strings.TrimPrefix(addr, "dir://"))
}
