package main

import (
	"testing"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// list nodes and info show labels, in text and JSON; the LABELS column
// appears only when some node has labels.
func TestLabelsShown(t *testing.T) {
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			s := newTestSystem(t, tr)
			expectOutput(t, s, []string{"list", "nodes"}, `(?m)^NAME +PID +HOST +UPTIME +SERVICES +TOPICS +RPC\n`)
			expectOutput(t, s, []string{"info", "calc"}, `(?m)^labels +-$`)

			labels := map[string]string{"zone": "eu-1", "app.example.org/tier": "back end"}
			coretest.NewPeer(t, "tagged", append(s.opts, core.WithLabels(labels))...)
			var nodes []core.NodeInfo
			runJSON(t, s, &nodes, "list", "nodes", "--json")
			var found bool
			for _, n := range nodes {
				if n.Name == "tagged" {
					found = core.FormatLabels(n.Labels) == core.FormatLabels(labels)
				} else if n.Labels != nil {
					t.Errorf("list nodes --json: %s has labels %v", n.Name, n.Labels)
				}
			}
			if !found {
				t.Errorf("list nodes --json: tagged without its labels: %+v", nodes)
			}
			expectOutput(t, s, []string{"list", "nodes"}, `(?m)^NAME +PID +HOST +UPTIME +SERVICES +TOPICS +RPC +LABELS\n(.*\n)*calc +.* -\n(.*\n)*tagged +.* app\.example\.org/tier=back end,zone=eu-1\n`)

			var r nodeReport
			runJSON(t, s, &r, "info", "--json", "tagged")
			if core.FormatLabels(r.Info.Labels) != core.FormatLabels(labels) {
				t.Errorf("info --json: labels %v", r.Info.Labels)
			}
			expectOutput(t, s, []string{"info", "tagged"}, `(?m)^labels +app\.example\.org/tier=back end,zone=eu-1$`)
		})
	}
}
