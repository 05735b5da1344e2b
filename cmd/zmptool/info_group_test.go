package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// zmptool info GROUP shows a node group: its members and the union of
// what they offer.
func TestInfoGroup(t *testing.T) {
	s := newTestSystem(t, core.TCP)
	member := func(name, svc, topic string) supervise.Member {
		return supervise.Member{Name: name, New: func(opts ...core.Option) (*core.Node, error) {
			return core.NewNode(name, core.Behavior{Setup: func(_ context.Context, p *core.Peer) error {
				if err := p.HandleFunc(svc, func(context.Context, *core.Request) ([]byte, error) { return nil, nil }); err != nil {
					return err
				}
				return p.Advertise(topic)
			}}, append(append([]core.Option(nil), s.opts...), opts...)...)
		}}
	}
	g, err := supervise.NewGroup("pipeline", supervise.OneForAll, []supervise.Member{
		member("pipeline-parse", "pipe.parse", "pipe.parsed"), member("pipeline-store", "pipe.store", "pipe.stored"),
	})
	must(t, err)
	defer g.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	must(t, g.Start(ctx))

	var r struct{ Group supervise.GroupInfo }
	runJSON(t, s, &r, "info", "--json", "pipeline")
	if len(r.Group.Members) != 2 || strings.Join(r.Group.Services, ",") != "pipe.parse,pipe.store" || strings.Join(r.Group.Topics, ",") != "pipe.parsed,pipe.stored" {
		t.Fatalf("info --json pipeline: %+v", r.Group)
	}
	code, out, stderr := s.tool("info", "pipeline")
	if code != exitOK || !strings.Contains(out, "pipeline-parse") || !strings.Contains(out, "pipeline-store") || !strings.Contains(out, "pipe.parse pipe.store") {
		t.Fatalf("info pipeline: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := s.tool("info", "nosuch"); code != exitFailure || !strings.Contains(stderr, `no live node or group named "nosuch"`) {
		t.Fatalf("info nosuch: exit %d, %s", code, stderr)
	}
}
