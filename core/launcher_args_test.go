package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// envRefuseArgs makes argsKind refuse every argument list: set in the
// test's environment after NewNode, it reaches only the child.
const envRefuseArgs = "ZMP_TEST_REFUSE_ARGS"

// registerArgKinds registers the test kinds that take arguments.
func registerArgKinds(l *Launcher) error {
	return l.RegisterArgs("args", argsKind)
}

// argsKind provides "args", the arguments it was made with and the
// PID of its process. It refuses an argument "bad", and every argument
// list when $ZMP_TEST_REFUSE_ARGS is set, and panics on "panic".
func argsKind(args []string) (Behavior, error) {
	switch {
	case os.Getenv(envRefuseArgs) != "":
		return Behavior{}, fmt.Errorf("refusing %q: $%s is set", args, envRefuseArgs)
	case slices.Contains(args, "bad"):
		return Behavior{}, errors.New(`"bad" is not an argument`)
	case slices.Contains(args, "panic"):
		panic("asked to panic")
	}
	return Behavior{Setup: func(_ context.Context, p *Peer) error {
		return Provide(p, "args", func(context.Context, struct{}) (argsReply, error) {
			return argsReply{Args: args, PID: os.Getpid()}, nil
		})
	}}, nil
}

type argsReply struct {
	Args []string
	PID  int
}

// A kind registered with RegisterArgs gets the node's WithKindArgs, in
// this process and in a child process, and every restart gets them
// again.
func TestLauncherKindArgs(t *testing.T) {
	for _, inProc := range []bool{true, false} {
		t.Run(fmt.Sprintf("in-process=%v", inProc), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			reg, err := NewDirRegistry(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			args := []string{"--size", "3", "two words", ""}
			n, err := testLauncher.NewNode("args", "args-node", WithRegistry(reg), WithInProcess(inProc), WithKindArgs(args...))
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			args[0] = "changed after the call" // the option copied them
			caller, err := NewPeer(ctx, "caller", WithRegistry(reg))
			if err != nil {
				t.Fatal(err)
			}
			defer caller.Close()
			want := []string{"--size", "3", "two words", ""}
			for i := range 2 {
				if i == 1 {
					err = n.Restart(ctx)
				} else {
					err = n.Start(ctx)
				}
				if err != nil {
					t.Fatal(err)
				}
				r, err := Call[argsReply](ctx, caller, "args", nil, OnNode("args-node"))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(r.Args, want) {
					t.Errorf("start %d: args %q, want %q", i, r.Args, want)
				}
				if (r.PID == os.Getpid()) != inProc {
					t.Errorf("start %d: node ran in pid %d, this process is %d", i, r.PID, os.Getpid())
				}
			}
		})
	}
}

// Arguments a constructor refuses, or that a kind without arguments
// gets, fail NewNode with ErrBadArgs and the constructor's error; a
// panicking constructor does not crash the process.
func TestLauncherBadArgs(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	if err := registerTestKinds(l); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, kind string
		args       []string
		want       error
		text       string
	}{
		{"refused", "args", []string{"ok", "bad"}, ErrBadArgs, `"bad" is not an argument`},
		{"panic", "args", []string{"panic"}, ErrBadArgs, "constructor panicked: asked to panic"},
		{"kind without arguments", "calc", []string{"x"}, ErrBadArgs, `kind "calc" takes no arguments, got 1`},
		{"unknown kind", "nosuchkind", nil, ErrUnknownKind, `"nosuchkind" is not registered`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.NewNode(tt.kind, "n", WithKindArgs(tt.args...))
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.text) {
				t.Fatalf("NewNode = %v, want %v with %q", err, tt.want, tt.text)
			}
		})
	}
	if _, err := l.NewNode("calc", "n", WithKindArgs()); err != nil {
		t.Errorf("calc with no arguments: %v", err)
	}
}

// A child whose constructor refuses its arguments (here because its
// environment differs from the parent's) fails Start with an error
// matching ErrBadArgs.
func TestLauncherBadArgsInChild(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := NewDirRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, err := testLauncher.NewNode("args", "refused", WithRegistry(reg), WithKindArgs("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	t.Setenv(envRefuseArgs, "1")
	err = n.Start(ctx)
	if !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), "is set") {
		t.Fatalf("Start = %v, want ErrBadArgs from the child", err)
	}
	if st := n.Status(); st.State != StateFailed {
		t.Errorf("state %v, want failed", st.State)
	}
}

// WithKindArgs is for a Launcher's nodes: NewNode, NewPeer and
// WithNodeOptions refuse it.
func TestKindArgsOnlyForLauncherNodes(t *testing.T) {
	if _, err := NewNode("n", Behavior{}, WithKindArgs("a")); err == nil || !strings.Contains(err.Error(), "WithKindArgs") {
		t.Errorf("NewNode with WithKindArgs: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if p, err := NewPeer(ctx, "p", WithRegistry(NewMemRegistry()), WithKindArgs("a")); err == nil || !strings.Contains(err.Error(), "WithKindArgs") {
		if p != nil {
			p.Close()
		}
		t.Errorf("NewPeer with WithKindArgs: %v", err)
	}
	if _, err := NewLauncher(WithNodeOptions(WithKindArgs("a"))); err == nil || !strings.Contains(err.Error(), "WithKindArgs") {
		t.Errorf("WithNodeOptions(WithKindArgs): %v", err)
	}
}

func TestLauncherKinds(t *testing.T) {
	l, err := NewLauncher()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"zeta", "alpha"} {
		if err := l.Register(k, func() Behavior { return Behavior{} }); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.RegisterArgs("mid", argsKind); err != nil {
		t.Fatal(err)
	}
	if got := l.Kinds(); !slices.Equal(got, []string{"alpha", "mid", "zeta"}) {
		t.Errorf("Kinds = %q", got)
	}
	if err := l.RegisterArgs("mid", argsKind); err == nil {
		t.Error("a kind registered twice")
	}
	if err := l.RegisterArgs("nil", nil); err == nil {
		t.Error("RegisterArgs with a nil constructor")
	}
}
