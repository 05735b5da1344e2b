package supervise

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// grMember is an in-process member providing service svc and topic
// topic, that fails when fail is sent to and records its stops.
func grMember(reg core.Registry, name, svc, topic string, fail chan error, stops *grLog) Member {
	return Member{Name: name, New: func(opts ...core.Option) (*core.Node, error) {
		return core.NewNode(name, core.Behavior{
			Setup: func(_ context.Context, p *core.Peer) error {
				if err := p.HandleFunc(svc, func(context.Context, *core.Request) ([]byte, error) { return []byte(name), nil }); err != nil {
					return err
				}
				return p.Advertise(topic)
			},
			Update: func(ctx context.Context, _ *core.Peer, _ time.Duration) error {
				select {
				case err := <-fail:
					return err
				case <-ctx.Done():
					return nil
				}
			},
			Teardown: func(context.Context, *core.Peer) error { stops.add(name); return nil },
		}, append([]core.Option{core.WithRegistry(reg), core.WithUpdateInterval(time.Millisecond)}, opts...)...)
	}, Labels: map[string]string{"role": name}}
}

type grLog struct {
	mu    sync.Mutex
	names []string
}

func (l *grLog) add(n string) { l.mu.Lock(); l.names = append(l.names, n); l.mu.Unlock() }
func (l *grLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
}

// TestGroup: a group of two nodes starts and stops as one (reverse
// order), is restarted as one under OneForAll, and its services and
// topics are visible under its name: in Info, in the registry, and to
// calls that select the group, which never reach a provider outside it.
func TestGroup(t *testing.T) {
	reg := core.NewMemRegistry()
	ctx := testCtx(t, 30*time.Second)
	fail := make(chan error, 1)
	var stops grLog
	g, err := NewGroup("pipeline", OneForAll, []Member{
		grMember(reg, "pipeline-parse", "parse", "parsed", fail, &stops),
		grMember(reg, "pipeline-store", "store", "stored", make(chan error), &stops),
	}, WithBackoff(NoBackoff()), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// Another provider of "parse", outside the group.
	outsider, err := core.NewPeer(ctx, "outsider", core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer outsider.Close()
	outsider.HandleFunc("parse", func(context.Context, *core.Request) ([]byte, error) { return []byte("outsider"), nil })

	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	want := GroupInfo{Services: []string{"parse", "store"}, Topics: []string{"parsed", "stored"}}
	if gi := g.Info(); len(gi.Members) != 2 || !slices.Equal(gi.Services, want.Services) || !slices.Equal(gi.Topics, want.Topics) {
		t.Fatalf("Info %+v", gi)
	}
	gi, err := GroupMembers(ctx, reg, "pipeline")
	if err != nil || len(gi.Members) != 2 || gi.Members[0].Name != "pipeline-parse" || !slices.Equal(gi.Services, want.Services) {
		t.Fatalf("GroupMembers %+v, %v", gi, err)
	}
	if gi.Members[0].Labels["role"] != "pipeline-parse" || gi.Members[0].Labels[GroupLabel] != "pipeline" {
		t.Fatalf("member labels %v", gi.Members[0].Labels)
	}
	caller, err := core.NewPeer(ctx, "caller", core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	for range 20 {
		b, err := caller.Call(ctx, "parse", nil, core.Where(map[string]string{GroupLabel: "pipeline"}))
		if err != nil || string(b) != "pipeline-parse" {
			t.Fatalf("a call to the group's parse: %q, %v", b, err)
		}
	}

	// One member fails: under OneForAll both restart.
	n, was := g.counters.exits.Load(), g.Children()
	fail <- errCrash
	waitExits(t, g.Supervisor, n)
	for i, c := range g.Children() {
		if c.State != ChildRunning || !c.Started.After(was[i].Started) {
			t.Fatalf("after a member's crash: %+v", g.Children())
		}
	}
	// Stopped as one, in reverse order.
	before := len(stops.get())
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := stops.get()[before:]; !slices.Equal(got, []string{"pipeline-store", "pipeline-parse"}) {
		t.Fatalf("stop order %q", got)
	}
	if gi := g.Info(); len(gi.Members) != 0 {
		t.Fatalf("a stopped group still lists %+v", gi.Members)
	}
}

func TestGroupRejects(t *testing.T) {
	reg := core.NewMemRegistry()
	ok := grMember(reg, "m", "s", "t", nil, &grLog{})
	for _, tc := range []struct {
		what     string
		name     string
		strategy Strategy
		members  []Member
	}{
		{"simple_one_for_one", "g", SimpleOneForOne, []Member{ok}},
		{"a bad group name", "bad name\n", OneForOne, []Member{ok}},
		{"no New", "g", OneForOne, []Member{{Name: "m"}}},
		{"the group's label taken", "g", OneForOne, []Member{{Name: "m", New: ok.New, Labels: map[string]string{GroupLabel: "other"}}}},
		{"a node of another name", "g", OneForOne, []Member{{Name: "x", New: ok.New}}},
		{"New failing", "g", OneForOne, []Member{{Name: "m", New: func(...core.Option) (*core.Node, error) { return nil, errCrash }}}},
		{"two members of one name", "g", OneForOne, []Member{ok, ok}},
	} {
		g, err := NewGroup(tc.name, tc.strategy, tc.members)
		if err == nil {
			g.Close()
			t.Errorf("%s: accepted", tc.what)
		} else if !errors.Is(err, ErrBadOption) && !errors.Is(err, ErrBadSpec) {
			t.Errorf("%s: %v", tc.what, err)
		}
	}
}
