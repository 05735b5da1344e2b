package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gozmp/zmp/toolbox/supervise"
	"github.com/urfave/cli/v2"
)

// groupInfo is info for a name that is no node's: the node group of
// that name (toolbox/supervise's Group), its members and what they
// offer together.
func groupInfo(c *cli.Context, s *session, name string) error {
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	gi, err := supervise.GroupMembers(ctx, s.reg, name)
	if err != nil {
		return fmt.Errorf("reading registry %s: %w", s.registryName(), err)
	}
	if len(gi.Members) == 0 {
		return fmt.Errorf("no live node or group named %q in %s (zmptool list nodes shows them)", name, s.registryName())
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, struct {
			Group supervise.GroupInfo `json:"group"`
		}{gi})
	}
	return printGroupInfo(c.App.Writer, gi)
}

func printGroupInfo(w io.Writer, gi supervise.GroupInfo) error {
	t := newTable(w, "group", gi.Name)
	t.row("members", fmt.Sprint(len(gi.Members)))
	t.row("services", dashIfEmpty(strings.Join(gi.Services, " ")))
	t.row("topics", dashIfEmpty(strings.Join(gi.Topics, " ")))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	m := newTable(w, "MEMBER", "PID", "HOST", "RPC", "SERVICES", "TOPICS")
	for _, n := range gi.Members {
		m.row(n.Name, fmt.Sprint(n.PID), n.Host, dashIfEmpty(n.RPC), dashIfEmpty(strings.Join(n.Services, " ")), dashIfEmpty(strings.Join(n.Topics, " ")))
	}
	return m.flush()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
