package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
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
	kinds map[string]kindFunc
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
		c, err := buildConfig(opts)
		if err != nil {
			return err
		}
		if err := c.reject(setKindArgs, "WithNodeOptions (give each node its own)"); err != nil {
			return err
		}
		l.opts = append(l.opts, opts...)
		return nil
	}
}

// NewLauncher returns a Launcher with no kinds registered.
func NewLauncher(opts ...LauncherOption) (*Launcher, error) {
	l := &Launcher{kinds: map[string]kindFunc{}, args: os.Args[1:]}
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
// the child (or in this process for WithInProcess nodes). The kind
// takes no arguments: a node given WithKindArgs fails with ErrBadArgs.
func (l *Launcher) Register(kind string, newBehavior func() Behavior) error {
	if newBehavior == nil {
		return errors.New("core: Register with a nil constructor")
	}
	return l.register(kind, func(args []string) (Behavior, error) {
		if len(args) > 0 {
			return Behavior{}, fmt.Errorf("kind %q takes no arguments, got %d", kind, len(args))
		}
		return newBehavior(), nil
	})
}

// RegisterArgs names a node kind whose nodes are made from arguments,
// the strings given to WithKindArgs (none: an empty slice). newBehavior
// is called once per start, in the child (or in this process for
// WithInProcess nodes), and once more by NewNode, in this process, to
// check the arguments before anything starts: it should only parse
// them and build the Behavior, leaving the work to Setup. An error it
// returns (or a panic) is reported as an error matching ErrBadArgs, by
// NewNode, or by Start if a later call fails. The args slice is the
// constructor's own.
func (l *Launcher) RegisterArgs(kind string, newBehavior func(args []string) (Behavior, error)) error {
	if newBehavior == nil {
		return errors.New("core: RegisterArgs with a nil constructor")
	}
	return l.register(kind, newBehavior)
}

func (l *Launcher) register(kind string, f kindFunc) error {
	if err := checkName(kind); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.kinds[kind]; dup {
		return fmt.Errorf("core: node kind %q registered twice", kind)
	}
	l.kinds[kind] = f
	return nil
}

// Kinds returns the names of the registered kinds, sorted.
func (l *Launcher) Kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.kinds))
}

func (l *Launcher) kind(kind string) (kindFunc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.kinds[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not registered", ErrUnknownKind, kind)
	}
	return f, nil
}

// NewNode returns a node of a registered kind, run as a child process
// (or in this process with WithInProcess(true)). Options that are
// plain values (transport, timeouts, queue sizes, registry address,
// WithKindArgs…) are passed to the child; WithCodec, WithLogger and
// WithOutput are not (the child uses its defaults and its output goes
// to WithOutput). An unknown kind is an error matching ErrUnknownKind;
// arguments the kind's constructor refuses, one matching ErrBadArgs.
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
	if _, err := construct(kind, newBehavior, cfg.kindArgs); err != nil {
		return nil, err
	}
	n := &Node{name: name, cfg: cfg, st: Status{Name: name, State: StateNew}}
	if cfg.inProcess {
		n.newRun = func() runner {
			b, err := construct(kind, newBehavior, cfg.kindArgs)
			if err != nil {
				b = Behavior{Setup: func(context.Context, *Peer) error { return err }}
			}
			return newInProc(name, b, n.cfg)
		}
		return n, nil
	}
	cc, err := newChildConfig(kind, name, cfg)
	if err != nil {
		return nil, err
	}
	n.newRun = func() runner { return newProcRunner(l, cc, cfg) }
	return n, nil
}
