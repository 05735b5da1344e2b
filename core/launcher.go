package core

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// Launcher runs nodes as child processes of the same binary. A program
// registers its node kinds once, calls RunChild at the top of main (so
// that a re-executed copy of it becomes the requested node), and then
// makes nodes with NewNode:
//
//	l := core.NewLauncher()
//	l.Register("calc", newCalc)
//	if code, isChild := l.RunChild(); isChild {
//		os.Exit(code)
//	}
//	n, err := l.NewNode("calc", "calc-1")
//
// A child never outlives its parent: it is killed if the parent dies
// and it stops when the parent's end of its control pipe closes.
type Launcher struct {
	mu    sync.Mutex
	kinds map[string]func() Behavior
	exe   string
	args  []string
	opts  []Option // WithNodeOptions
}

// LauncherOption configures a Launcher.
type LauncherOption func(*Launcher) error

// WithExecutable sets the binary children run. Default os.Executable().
func WithExecutable(path string) LauncherOption {
	return func(l *Launcher) error {
		if path == "" {
			return errors.New("core: WithExecutable(\"\")")
		}
		l.exe = path
		return nil
	}
}

// WithArgs sets the arguments children get. Default os.Args[1:]; the
// child must reach RunChild with them.
func WithArgs(args ...string) LauncherOption {
	return func(l *Launcher) error {
		l.args = args
		return nil
	}
}

// WithNodeOptions gives every node the launcher makes these options
// first, before those of NewNode, in this process and in each child.
// Default: none. It is how options that are not plain values reach a
// child process, such as WithRegistryOpener, WithCodec or
// WithCallInterceptors: the child's program builds its Launcher with
// the same WithNodeOptions before it calls RunChild.
func WithNodeOptions(opts ...Option) LauncherOption {
	return func(l *Launcher) error {
		if _, err := buildConfig(opts); err != nil {
			return err
		}
		l.opts = append(l.opts, opts...)
		return nil
	}
}

// NewLauncher returns a Launcher with no kinds registered.
func NewLauncher(opts ...LauncherOption) (*Launcher, error) {
	l := &Launcher{kinds: map[string]func() Behavior{}, args: os.Args[1:]}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, err
		}
	}
	if l.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("core: finding this executable: %w", err)
		}
		l.exe = exe
	}
	return l, nil
}

// Register names a node kind. newBehavior is called once per start, in
// the child (or in this process for WithInProcess nodes).
func (l *Launcher) Register(kind string, newBehavior func() Behavior) error {
	if err := checkName(kind); err != nil {
		return err
	}
	if newBehavior == nil {
		return errors.New("core: Register with a nil constructor")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.kinds[kind]; dup {
		return fmt.Errorf("core: node kind %q registered twice", kind)
	}
	l.kinds[kind] = newBehavior
	return nil
}

func (l *Launcher) kind(kind string) (func() Behavior, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.kinds[kind]
	if !ok {
		return nil, fmt.Errorf("core: no node kind %q registered", kind)
	}
	return f, nil
}

// NewNode returns a node of a registered kind, run as a child process
// (or in this process with WithInProcess(true)). Options that are
// plain values (transport, timeouts, queue sizes, registry address…)
// are passed to the child; WithCodec, WithLogger and WithOutput are
// not (the child uses its defaults and its output goes to WithOutput).
func (l *Launcher) NewNode(kind, name string, opts ...Option) (*Node, error) {
	newBehavior, err := l.kind(kind)
	if err != nil {
		return nil, err
	}
	opts = append(append([]Option(nil), l.opts...), opts...)
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = kind + "-" + newID()[:8]
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	n := &Node{name: name, cfg: cfg, st: Status{Name: name, State: StateNew}}
	if cfg.inProcess {
		n.newRun = func() runner { return newInProc(name, newBehavior(), n.cfg) }
		return n, nil
	}
	cc, err := newChildConfig(kind, name, cfg)
	if err != nil {
		return nil, err
	}
	n.newRun = func() runner { return newProcRunner(l, cc, cfg) }
	return n, nil
}
