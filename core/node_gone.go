package core

import "os"

// NodeGone reports whether the process of a registered node is known to
// be gone: the node registered from this host (info.Host is this
// machine's hostname), and no live process has its PID, or the one that
// does started after the node (a later process reusing the PID). It
// returns false when it cannot tell: another host, no PID, or a system
// where core does not read process tables (only Linux is read).
//
// Registries kept elsewhere than in a directory (a replicated one, for
// example) use it to free at once the name of a node that died on the
// same host, instead of holding it until the dead node's lease expires.
func NodeGone(info NodeInfo) bool {
	if info.PID <= 0 || info.Started.IsZero() || info.PID == os.Getpid() {
		return false
	}
	if h, err := os.Hostname(); err != nil || h != info.Host {
		return false
	}
	return processGoneSince(info.PID, info.Started)
}
