package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/urfave/cli/v2"
)

// kvMember is a member as --json prints it.
type kvMember struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Voter   bool   `json:"voter"`
	Leader  bool   `json:"leader"`
}

func kvMembersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "print the store's members and which one leads",
		Description: "Prints ID, ADDRESS (its raft address) and ROLE (leader, follower or nonvoter) of each\n" +
			"member, from the leader (linearizable) unless --stale: then as the node that answers\n" +
			"knows them.",
		Flags:  kvClientFlags("print a JSON array of {\"id\", \"address\", \"voter\", \"leader\"}", kvStaleFlag()),
		Action: noArgs(kvMembers),
	}
}

func kvMembers(c *cli.Context) error {
	return withKV(c, "members", true, func(ctx context.Context, cl *consensus.Client) error {
		ms, err := cl.Members(ctx, kvReadOpts(c)...)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			out := []kvMember{}
			for _, m := range ms {
				out = append(out, kvMember(m))
			}
			return printJSON(c.App.Writer, out)
		}
		t := newTable(c.App.Writer, "ID", "ADDRESS", "ROLE")
		for _, m := range ms {
			role := "follower"
			switch {
			case m.Leader:
				role = "leader"
			case !m.Voter:
				role = "nonvoter"
			}
			t.row(m.ID, m.Address, role)
		}
		return t.flush()
	})
}

// kvLeader returns the leader among ms, if one is known.
func kvLeader(ms []consensus.Member) (consensus.Member, bool) {
	for _, m := range ms {
		if m.Leader {
			return m, true
		}
	}
	return consensus.Member{}, false
}

func kvTransferCommand() *cli.Command {
	return &cli.Command{
		Name:      "transfer",
		Usage:     "hand the leadership to a member, or to the most up-to-date follower",
		ArgsUsage: "[ID]",
		Description: "Asks the leader to hand over to member ID (to the follower with the most of the log\n" +
			"when there is no ID), waits until the new leader is known, and prints it.",
		Flags: kvClientFlags("print {\"leader\", \"address\"}"),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 0, 1)
			if err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return withKV(c, "transfer", false, func(ctx context.Context, cl *consensus.Client) error {
				return kvTransfer(ctx, c, cl, id)
			})
		},
	}
}

func kvTransfer(ctx context.Context, c *cli.Context, cl *consensus.Client, id string) error {
	ms, err := cl.Members(ctx)
	if err != nil {
		return err
	}
	old, _ := kvLeader(ms)
	if id == "" || id != old.ID {
		if err := cl.TransferLeadership(ctx, id); err != nil {
			return err
		}
	}
	for {
		ms, err := cl.Members(ctx)
		if err != nil {
			return err
		}
		if l, ok := kvLeader(ms); ok && (l.ID == id || id == "" && l.ID != old.ID) {
			return printKV(c, map[string]string{"leader": l.ID, "address": l.Address}, fmt.Sprintf("leader %s at %s", l.ID, l.Address))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the new leader: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func kvRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Usage:     "remove a member from the store",
		ArgsUsage: "ID",
		Description: "Removes member ID from the configuration (a leader that removes itself steps down).\n" +
			"Stop its kv serve afterwards: to come back it needs an empty --data and --join.\n" +
			"An ID that is not a member exits 1.",
		Flags: kvClientFlags("print {\"removed\"}"),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 1, 1)
			if err != nil {
				return err
			}
			return withKV(c, "remove", false, func(ctx context.Context, cl *consensus.Client) error {
				if err := cl.RemoveServer(ctx, args[0]); err != nil {
					return err
				}
				return printKV(c, map[string]string{"removed": args[0]}, "removed "+args[0])
			})
		},
	}
}
