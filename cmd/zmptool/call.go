package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

func callCommand() *cli.Command {
	return &cli.Command{
		Name:      "call",
		Category:  "inspect and drive",
		Usage:     "call a service with a JSON request and print the reply",
		ArgsUsage: "SERVICE [JSON]",
		Description: "JSON defaults to null. The reply is printed indented (one line with --json).\n" +
			"A remote error prints its code and message on stderr and exits 1.\n" +
			"zmp.ping, zmp.info and zmp.stats are answered by every node: pin one with --node.",
		Flags: []cli.Flag{
			registryFlag(),
			timeoutFlag(core.DefaultCallTimeout, "deadline of the call (and of --wait)"),
			&cli.StringFlag{Name: "node", Usage: "call this node instead of spreading over every provider", EnvVars: []string{"ZMP_NODE"}},
			&cli.BoolFlag{Name: "wait", Usage: "wait (within --timeout) for a provider to appear instead of failing at once", EnvVars: []string{"ZMP_WAIT"}},
			jsonFlag("print the reply on one line"),
		},
		Action: call,
	}
}

func call(c *cli.Context) error {
	args, err := argsOf(c, 1, 2)
	if err != nil {
		return err
	}
	service, body := args[0], []byte("null")
	if strings.HasPrefix(service, "zmp.") && c.String("node") == "" {
		// zmp's own services are answered by every node (zmp.registry.*
		// by a registry node) and are not listed in the registry, so a
		// call cannot find a provider by name: it needs a node.
		return usageError{fmt.Errorf("call: %s is one of zmp's own services, answered by every node and not listed in the registry: "+
			"pass --node NAME to say which node answers (zmptool list nodes shows the names)", service)}
	}
	if len(args) == 2 {
		if body = []byte(args[1]); !json.Valid(body) {
			return usageError{fmt.Errorf("call: the request is not valid JSON: %s", args[1])}
		}
	}
	s, err := openSession(c, true, core.WithCallTimeout(c.Duration("timeout")))
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	var opts []core.CallOption
	if node := c.String("node"); node != "" {
		opts = append(opts, core.OnNode(node))
	}
	if c.Bool("wait") {
		if err := waitProvider(ctx, s, service, c.String("node")); err != nil {
			return err
		}
	}
	reply, err := s.peer.Call(ctx, service, body, opts...)
	if err != nil {
		return callFailure(service, c.String("node"), c.Duration("timeout"), err)
	}
	if c.Bool("json") {
		_, err = fmt.Fprintln(c.App.Writer, dataText(reply, false))
		return err
	}
	_, err = fmt.Fprintln(c.App.Writer, dataText(reply, true))
	return err
}

// waitProvider waits until service has a provider (on node, if given).
func waitProvider(ctx context.Context, s *session, service, node string) error {
	for {
		nodes, err := s.nodes(ctx)
		for _, n := range nodes {
			if (node == "" || n.Name == node) && (n.Provides(service) || strings.HasPrefix(service, "zmp.")) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("waiting for a provider of %q: %w", service, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// callFailure words a failed call of service (pinned to node, unless
// empty) for stderr.
func callFailure(service, node string, timeout time.Duration, err error) error {
	var re *core.RemoteError
	switch {
	case errors.Is(err, core.ErrTimeout):
		return fmt.Errorf("%s: timed out (--timeout %v): %w", service, timeout, err)
	case errors.As(err, &re):
		code := fmt.Sprintf("code %d", re.Code)
		if re.Code < 1000 {
			code += " (" + re.Code.String() + ")"
		}
		msg := fmt.Sprintf("%s on %s: remote error %s: %s", service, re.Node, code, re.Message)
		if re.Detail != "" {
			msg += "\n" + re.Detail
		}
		return errors.New(msg)
	case errors.Is(err, core.ErrNoProvider) && strings.HasPrefix(service, "zmp."):
		return fmt.Errorf("%w (is %s a live node? zmptool list nodes shows them)", err, node)
	case errors.Is(err, core.ErrNoProvider) && node != "":
		return fmt.Errorf("%w (zmptool list nodes shows the live nodes, zmptool list services what each provides)", err)
	case errors.Is(err, core.ErrNoProvider):
		return fmt.Errorf("%w (zmptool list services shows what is provided)", err)
	}
	return err
}
