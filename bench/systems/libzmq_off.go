//go:build !libzmq

package systems

// libzmqSkip says why libzmq is not measured in this build.
const libzmqSkip = "skipped: built without -tags libzmq (needs libzmq3-dev)"

func libzmqSystem() *System {
	return &System{Name: "libzmq", RPC: true, PubSub: true, IPC: true, Curve: true, Skip: libzmqSkip}
}

// LibzmqVersion returns "" in a build without libzmq.
func LibzmqVersion() string { return "" }
