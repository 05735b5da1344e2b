package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Node kinds of the test binary. They run in this process (tests make
// them with NewNode) or in a re-executed copy of the test binary (tests
// make them with testLauncher); a child reaches them through TestMain's
// RunChild, so they are registered in mustTestLauncher.
//
// A kind cannot be given arguments: what a test wants to observe from
// it goes through files in the directory named by $ZMP_TEST_DIR (the
// child inherits the test's environment), named <node name>.<what>.

// envTestDir names the directory where test kinds leave marks.
const envTestDir = "ZMP_TEST_DIR"

// testKinds maps kind names to their behaviour constructors.
var testKinds = map[string]func() Behavior{
	"calc":      calcKind,
	"chatty":    chattyKind,
	"setupfail": setupFailKind,
	"ticker":    tickerKind,
	"stopper":   stopperKind,
	"crasher":   crasherKind,
	"stubborn":  stubbornKind,
	"parent":    parentKind,
	"panicker":  panickerKind,

	"failover-registry": failoverRegistryKind,
	"failover-echo":     failoverEchoKind,
	"hostile":           hostileKind,
	"hostcall":          hostileCallerKind,
	"retry-block":       retryBlockKind,
}

// registerTestKinds registers every test kind on l.
func registerTestKinds(l *Launcher) error {
	for _, k := range slices.Sorted(maps.Keys(testKinds)) {
		if err := l.Register(k, testKinds[k]); err != nil {
			return err
		}
	}
	return registerArgKinds(l)
}

// markPath is where the node named name leaves its mark what.
func markPath(dir, name, what string) string { return filepath.Join(dir, name+"."+what) }

// leaveMark writes a mark of node p with content text.
func leaveMark(p *Peer, what, text string) error {
	dir := os.Getenv(envTestDir)
	if dir == "" {
		return fmt.Errorf("test kind: $%s is not set", envTestDir)
	}
	return os.WriteFile(markPath(dir, p.Name(), what), []byte(text), 0o600)
}

// cfgReply is what a calc node reports of its configuration.
type cfgReply struct {
	PID            int
	Transport      Transport
	RuntimeDir     string
	CallTimeout    time.Duration
	LeaseTTL       time.Duration
	MaxMessageSize int64
	UpdateInterval time.Duration
	StopTimeout    time.Duration
	Registry       string
}

// provideCalc provides "add", "pid" and "cfg" on p.
func provideCalc(p *Peer) error {
	err := Provide(p, "add", func(_ context.Context, r addReq) (int, error) { return r.A + r.B, nil })
	if err != nil {
		return err
	}
	if err := Provide(p, "pid", func(context.Context, struct{}) (int, error) { return os.Getpid(), nil }); err != nil {
		return err
	}
	return Provide(p, "cfg", func(context.Context, struct{}) (cfgReply, error) {
		c := p.cfg
		r := cfgReply{
			PID: os.Getpid(), Transport: c.transport, RuntimeDir: c.runtimeDir, CallTimeout: c.callTimeout,
			LeaseTTL: c.leaseTTL, MaxMessageSize: c.maxMessageSize, UpdateInterval: c.updateInterval, StopTimeout: c.stopTimeout,
		}
		if a, ok := p.Registry().(Addresser); ok {
			r.Registry = a.Address()
		}
		return r, nil
	})
}

// calcTeardown marks "teardown" with "registered" when the node can
// still see itself in the registry, that is, before it has left it.
func calcTeardown(ctx context.Context, p *Peer) error {
	text := "registered"
	if _, err := Lookup(ctx, p.Registry(), p.Name()); err != nil {
		text = err.Error()
	}
	return leaveMark(p, "teardown", text)
}

// calcKind serves add/pid/cfg until stopped and marks its teardown.
func calcKind() Behavior {
	return Behavior{
		Setup:    func(_ context.Context, p *Peer) error { return provideCalc(p) },
		Teardown: calcTeardown,
	}
}

// chattyKind writes a line on stdout and one on stderr, then serves calc.
// Child processes only: in this process it would write on the test's output.
func chattyKind() Behavior {
	return Behavior{Setup: func(_ context.Context, p *Peer) error {
		fmt.Println("out-line")
		fmt.Fprintln(os.Stderr, "err-line")
		fmt.Print("no newline at the end")
		return provideCalc(p)
	}}
}

// errKindSetup is what setupFailKind fails with.
var errKindSetup = errors.New("setup exploded on purpose")

func setupFailKind() Behavior {
	return Behavior{Setup: func(context.Context, *Peer) error { return errKindSetup }}
}

// tickerKind marks "updated" on its first update and then updates every
// update interval doing nothing.
func tickerKind() Behavior {
	calls := 0
	return Behavior{
		Setup: func(_ context.Context, p *Peer) error { return provideCalc(p) },
		Update: func(_ context.Context, p *Peer, _ time.Duration) error {
			calls++
			if calls == 1 {
				return leaveMark(p, "updated", "1")
			}
			return nil
		},
	}
}

// stopperKind ends itself with ErrStop on its third update.
func stopperKind() Behavior {
	calls := 0
	return Behavior{Update: func(context.Context, *Peer, time.Duration) error {
		if calls++; calls == 3 {
			return ErrStop
		}
		return nil
	}}
}

// errKindUpdate is what crasherKind fails with.
var errKindUpdate = errors.New("update exploded on purpose")

// crasherKind fails on its second update.
func crasherKind() Behavior {
	calls := 0
	return Behavior{Update: func(context.Context, *Peer, time.Duration) error {
		if calls++; calls == 2 {
			return errKindUpdate
		}
		return nil
	}}
}

// stubbornKind ignores the end of its context: its Teardown takes 30 s.
// Child processes only (the process is killed); in-process tests block
// on a channel they close instead.
func stubbornKind() Behavior {
	return Behavior{
		Setup: func(_ context.Context, p *Peer) error { return provideCalc(p) },
		Teardown: func(context.Context, *Peer) error {
			time.Sleep(30 * time.Second)
			return nil
		},
	}
}

// parentKind launches a calc grandchild named <name>-gc in its own
// registry and provides "gcpid", the grandchild's PID. Child processes
// only.
func parentKind() Behavior {
	var gc *Node
	return Behavior{
		Setup: func(ctx context.Context, p *Peer) error {
			l, err := NewLauncher(WithArgs("-test.run=^$"))
			if err != nil {
				return err
			}
			if err := l.Register("calc", calcKind); err != nil {
				return err
			}
			gc, err = l.NewNode("calc", p.Name()+"-gc", WithRegistry(p.Registry()), WithOutput(os.Stderr))
			if err != nil {
				return err
			}
			if err := gc.Start(ctx); err != nil {
				return err
			}
			return Provide(p, "gcpid", func(context.Context, struct{}) (int, error) { return gc.Status().PID, nil })
		},
		Teardown: func(context.Context, *Peer) error {
			if gc == nil {
				return nil
			}
			return gc.Close()
		},
	}
}
