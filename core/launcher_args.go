package core

import (
	"errors"
	"fmt"
	"slices"
)

// Errors of a Launcher's kinds.
var (
	// ErrUnknownKind is returned by Launcher.NewNode for a kind that
	// was not registered, and by a child asked for one.
	ErrUnknownKind = errors.New("core: unknown node kind")
	// ErrBadArgs reports arguments (WithKindArgs) that a kind's
	// constructor refused, or arguments given to a kind registered
	// without them (Register). The error also wraps the constructor's.
	ErrBadArgs = errors.New("core: bad node arguments")
)

// kindFunc makes the Behavior of one start of a kind from its
// arguments.
type kindFunc func(args []string) (Behavior, error)

// construct calls a kind's constructor with a copy of args. An error
// or a panic becomes an error matching ErrBadArgs.
func construct(kind string, f kindFunc, args []string) (b Behavior, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%w: kind %q: constructor panicked: %v", ErrBadArgs, kind, v)
		}
	}()
	b, err = f(slices.Clone(args))
	if err != nil && !errors.Is(err, ErrBadArgs) {
		err = fmt.Errorf("%w: kind %q: %w", ErrBadArgs, kind, err)
	}
	return b, err
}

// WithKindArgs gives a node made by a Launcher the arguments of its
// kind's constructor (Launcher.RegisterArgs): in this process, and in
// the child process, which gets them with the node's configuration.
// They are strings, as a command line's are; the slice is copied.
// Default none (the constructor gets an empty slice); giving the option
// again replaces them. Launcher nodes only: NewNode and NewPeer refuse
// it.
func WithKindArgs(args ...string) Option {
	return func(c *config) error {
		c.kindArgs = slices.Clone(args)
		c.set |= setKindArgs
		return nil
	}
}
