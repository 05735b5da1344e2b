package core

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunChild makes this process the node its parent asked for, when it
// was started by a Launcher; call it at the top of main (or TestMain),
// after registering kinds. It returns isChild false at once in a normal
// run. In a child it runs the node until the parent stops it (SIGTERM),
// the parent dies, or the node ends by itself, and returns the exit
// code for os.Exit: 0 after a clean end, 1 after an error, 2 for a bad
// launch.
func (l *Launcher) RunChild() (code int, isChild bool) {
	raw, ok := os.LookupEnv(envChild)
	if !ok {
		return 0, false
	}
	os.Unsetenv(envChild) // the node's own children are not this node
	status := os.NewFile(3, "zmp-status")
	alive := os.NewFile(4, "zmp-parent")
	if status == nil || alive == nil {
		fmt.Fprintln(os.Stderr, "zmp: child started without its status pipes")
		return 2, true
	}
	defer status.Close()
	enc := json.NewEncoder(status)
	n, err := l.childNode(raw)
	if err != nil {
		enc.Encode(startFailure(err))
		return 2, true
	}
	return l.runChildNode(n, enc, alive), true
}

func (l *Launcher) childNode(raw string) (*Node, error) {
	var cc childConfig
	if err := json.Unmarshal([]byte(raw), &cc); err != nil {
		return nil, fmt.Errorf("core: bad %s: %w", envChild, err)
	}
	newBehavior, err := l.kind(cc.Kind)
	if err != nil {
		return nil, err
	}
	b, err := construct(cc.Kind, newBehavior, cc.Args)
	if err != nil {
		return nil, err
	}
	opts, err := cc.options()
	if err != nil {
		return nil, err
	}
	return NewNode(cc.Name, b, append(append([]Option(nil), l.opts...), opts...)...)
}

func (l *Launcher) runChildNode(n *Node, enc *json.Encoder, alive *os.File) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := n.Start(ctx); err != nil {
		enc.Encode(startFailure(err))
		return 1
	}
	enc.Encode(childStatus{Ready: true, Info: n.Status().Info})

	parentGone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, alive) // returns when the parent's end closes
		close(parentGone)
	}()
	select {
	case <-ctx.Done():
	case <-parentGone:
	case <-n.final():
	}
	err := n.Close()
	if st := n.Status(); st.Err != nil {
		err = st.Err
	}
	if err != nil {
		enc.Encode(childStatus{ExitError: err.Error()})
		return 1
	}
	return 0
}
