package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/urfave/cli/v2"
)

func kvWatchCommand() *cli.Command {
	return &cli.Command{
		Name:      "watch",
		Usage:     "print the changes under a prefix as they happen, until Ctrl-C",
		ArgsUsage: "[PREFIX]",
		Description: "Prints one line per change of a key that begins with PREFIX (every key without\n" +
			"one): \"put KEY = VALUE (rev N)\" or \"delete KEY (rev N)\"; --json: one object per\n" +
			"change with type, rev and the entry as get --json prints it. From now, or from\n" +
			"--from REV (inclusive) when the nodes still hold that history (the last 10000\n" +
			"changes by default). Each poll waits up to --timeout for changes; a node that\n" +
			"fails is replaced by another. Ctrl-C stops it with exit code 0.",
		Flags: kvClientFlags("print one JSON object per change",
			&cli.Uint64Flag{Name: "from", Usage: "print the changes from this revision on (0: from now)", EnvVars: []string{"ZMP_KV_FROM"}},
			&cli.IntFlag{Name: "count", Usage: "stop after this many changes (0: until Ctrl-C)", EnvVars: []string{"ZMP_COUNT"}}),
		Action: kvWatch,
	}
}

// kvEvent is a change as watch --json prints it.
type kvEvent struct {
	Type string `json:"type"`
	Rev  uint64 `json:"rev"`
	kvEntry
}

func kvWatch(c *cli.Context) error {
	args, err := argsOf(c, 0, 1)
	if err != nil {
		return err
	}
	if c.Int("count") < 0 {
		return usageError{errors.New("--count cannot be negative")}
	}
	prefix := ""
	if len(args) == 1 {
		prefix = args[0]
	}
	k, err := openKV(c)
	if err != nil {
		return err
	}
	defer k.Close()
	after, err := kvWatchStart(c, k, prefix)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "watching %q after revision %d (Ctrl-C to stop)\n", prefix, after)
	seen := 0
	for c.Int("count") == 0 || seen < c.Int("count") {
		var evs []consensus.Event
		ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
		err := k.do(ctx, true, func(ctx context.Context, cl *consensus.Client) error {
			var err error
			evs, after, err = cl.Events(ctx, prefix, after, 0)
			return err
		})
		cancel()
		switch {
		case c.Context.Err() != nil:
			fmt.Fprintf(c.App.ErrWriter, "received %d changes\n", seen)
			return nil
		case errors.Is(err, consensus.ErrCompacted):
			return fmt.Errorf("kv watch: the changes after revision %d are no longer kept (start from now, or from a later --from): %w", after, err)
		case err != nil && !kvRetryable(err, true):
			return kvFailure(c, "watch", err)
		case err != nil:
			time.Sleep(100 * time.Millisecond) // no node answered in this poll's time: the next poll tries again
		}
		for _, ev := range evs {
			if c.Int("count") > 0 && seen == c.Int("count") {
				break
			}
			printKVEvent(c, ev)
			seen++
		}
	}
	return nil
}

// kvWatchStart returns the revision the watch starts after: --from
// minus one, or the store's revision now.
func kvWatchStart(c *cli.Context, k *kvConn, prefix string) (uint64, error) {
	if from := c.Uint64("from"); from > 0 {
		return from - 1, nil
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	var rev uint64
	err := k.do(ctx, true, func(ctx context.Context, cl *consensus.Client) error {
		var err error
		_, rev, err = cl.List(ctx, prefix, 1)
		return err
	})
	if err != nil {
		return 0, kvFailure(c, "watch", err)
	}
	return rev, nil
}

func printKVEvent(c *cli.Context, ev consensus.Event) {
	typ := "put"
	if ev.Type == consensus.EventDelete {
		typ = "delete"
	}
	if c.Bool("json") {
		json.NewEncoder(c.App.Writer).Encode(kvEvent{Type: typ, Rev: ev.Rev, kvEntry: newKVEntry(ev.Entry)})
		return
	}
	if ev.Type == consensus.EventDelete {
		fmt.Fprintf(c.App.Writer, "delete %s (rev %d)\n", ev.Entry.Key, ev.Rev)
		return
	}
	fmt.Fprintf(c.App.Writer, "put %s = %s (rev %d)\n", ev.Entry.Key, dataText(ev.Entry.Value, false), ev.Rev)
}
