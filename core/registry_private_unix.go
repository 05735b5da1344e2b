//go:build unix

package core

import (
	"fmt"
	"os"
	"syscall"
)

// checkPrivateDir refuses a default registry directory that another
// user owns or may write: in a shared /tmp, whoever creates
// /tmp/zmp-<uid> first would otherwise see and forge every entry.
func checkPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("core: registry directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("core: registry directory %s is owned by uid %d with mode %v; it must be yours and not writable by others (or set %s or ZMP_RUNTIME_DIR)",
			dir, st.Uid, fi.Mode().Perm(), EnvRegistry)
	}
	return nil
}
