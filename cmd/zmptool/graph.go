package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

// renderFormats are the --out extensions rendered with Graphviz's dot.
var renderFormats = map[string]bool{".svg": true, ".png": true, ".pdf": true}

func graphCommand() *cli.Command {
	return &cli.Command{
		Name:     "graph",
		Category: "inspect and drive",
		Usage:    "draw the system: nodes, the services they provide, the topics they publish and subscribe to",
		Description: "Prints Graphviz DOT on stdout. --out FILE.dot (or .gv) writes it to a file;\n" +
			"--out FILE.svg, .png or .pdf renders it with Graphviz's dot, which must be installed.\n" +
			"Boxes are nodes, ellipses services, parallelograms topics; subscriptions come from\n" +
			"each node's zmp.stats (a node that does not answer is drawn dashed).",
		Flags: []cli.Flag{
			registryFlag(),
			timeoutFlag(5*time.Second, "bound for reading the registry and each node's zmp.stats"),
			&cli.StringFlag{Name: "out", Usage: "write to FILE.dot/.gv, or render FILE.svg/.png/.pdf with dot", EnvVars: []string{"ZMP_OUT"}},
		},
		Action: graph,
	}
}

func graph(c *cli.Context) error {
	out := c.String("out")
	ext := strings.ToLower(filepath.Ext(out))
	if out != "" && ext != ".dot" && ext != ".gv" && !renderFormats[ext] {
		return usageError{fmt.Errorf("graph: --out %s: the file name must end in .dot, .gv, .svg, .png or .pdf", out)}
	}
	dotPath := ""
	if renderFormats[ext] {
		var err error
		if dotPath, err = exec.LookPath("dot"); err != nil {
			return fmt.Errorf("graph: rendering %s needs Graphviz's dot command, which is not installed (not in PATH): install Graphviz (apt-get install graphviz) or write DOT with --out %s",
				out, strings.TrimSuffix(out, filepath.Ext(out))+".dot")
		}
	}
	s, nodes, err := readNodes(c, true)
	if err != nil {
		return err
	}
	defer s.Close()
	stats := s.statsOf(c.Context, nodes, c.Duration("timeout"))
	warnUnanswered(c.App.ErrWriter, stats)
	var dot bytes.Buffer
	writeDOT(&dot, nodes, stats)
	switch {
	case out == "":
		_, err = c.App.Writer.Write(dot.Bytes())
		return err
	case dotPath == "":
		return os.WriteFile(out, dot.Bytes(), 0o644)
	}
	return render(c.Context, dotPath, ext[1:], out, dot.Bytes())
}

// render runs dot -Tformat -o out with src on its stdin.
func render(ctx context.Context, dotPath, format, out string, src []byte) error {
	cmd := exec.CommandContext(ctx, dotPath, "-T"+format, "-o", out)
	cmd.Stdin = bytes.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("graph: %s -T%s: %w: %s", dotPath, format, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// dotQuote quotes s as a DOT string.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// writeDOT draws nodes as boxes, services as ellipses and topics as
// parallelograms: node -> service (provides), node -> topic (publishes),
// topic -> node (subscribes).
func writeDOT(w io.Writer, nodes []core.NodeInfo, stats map[string]nodeStats) {
	fmt.Fprintln(w, "digraph zmp {")
	fmt.Fprintln(w, "  rankdir=LR;")
	fmt.Fprintln(w, `  node [fontname="Helvetica", fontsize=11];`)
	fmt.Fprintln(w, `  edge [fontname="Helvetica", fontsize=9];`)
	for _, n := range nodes {
		style := "solid"
		if st, ok := stats[n.Name]; ok && st.err != nil {
			style = "dashed"
		}
		fmt.Fprintf(w, "  %s [label=%s, shape=box, style=%s];\n", dotQuote("node:"+n.Name), dotQuote(fmt.Sprintf("%s\npid %d", n.Name, n.PID)), style)
	}
	for _, e := range services(nodes) {
		fmt.Fprintf(w, "  %s [label=%s, shape=ellipse];\n", dotQuote("service:"+e.Service), dotQuote(e.Service))
		for _, p := range e.Providers {
			fmt.Fprintf(w, "  %s -> %s [label=\"provides\", style=dashed];\n", dotQuote("node:"+p), dotQuote("service:"+e.Service))
		}
	}
	topics := topicGraph(nodes, stats)
	for _, t := range topics {
		fmt.Fprintf(w, "  %s [label=%s, shape=parallelogram];\n", dotQuote("topic:"+t.Topic), dotQuote(t.Topic))
		for _, p := range t.Publishers {
			fmt.Fprintf(w, "  %s -> %s;\n", dotQuote("node:"+p), dotQuote("topic:"+t.Topic))
		}
	}
	writeSubscriptionEdges(w, nodes, stats, topics)
	fmt.Fprintln(w, "}")
}

// writeSubscriptionEdges draws topic -> subscriber; a prefix
// subscription is drawn from its PREFIX* to the subscriber, with a
// dotted edge from every published topic the prefix matches.
func writeSubscriptionEdges(w io.Writer, nodes []core.NodeInfo, stats map[string]nodeStats, topics []topicEntry) {
	var lines []string
	edge := func(from, to, attrs string) {
		lines = append(lines, fmt.Sprintf("  %s -> %s%s;", dotQuote(from), dotQuote(to), attrs))
	}
	for _, n := range nodes {
		for _, sub := range stats[n.Name].stats.Subscriptions {
			if !sub.Prefix {
				edge("topic:"+sub.Topic, "node:"+n.Name, "")
				continue
			}
			edge("topic:"+sub.Topic+"*", "node:"+n.Name, "")
			for _, t := range topics {
				if len(t.Publishers) > 0 && strings.HasPrefix(t.Topic, sub.Topic) {
					edge("topic:"+t.Topic, "topic:"+sub.Topic+"*", ` [style=dotted, arrowhead=none, label="matches"]`)
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range compactStrings(lines) {
		fmt.Fprintln(w, l)
	}
}

func compactStrings(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
