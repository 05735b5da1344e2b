package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/urfave/cli/v2"
)

// kvEntry is an entry as --json prints it: "value" when it is UTF-8
// text, else "raw" (base64).
type kvEntry struct {
	Key       string  `json:"key"`
	Value     *string `json:"value,omitempty"`
	Raw       []byte  `json:"raw,omitempty"`
	CreateRev uint64  `json:"create_rev"`
	ModRev    uint64  `json:"mod_rev"`
	Version   uint64  `json:"version"`
	Lease     uint64  `json:"lease,omitempty"`
}

func newKVEntry(e consensus.Entry) kvEntry {
	out := kvEntry{Key: e.Key, CreateRev: e.CreateRev, ModRev: e.ModRev, Version: e.Version, Lease: e.Lease}
	if utf8.Valid(e.Value) {
		s := string(e.Value)
		out.Value = &s
	} else {
		out.Raw = e.Value
	}
	return out
}

// printKV prints v as a JSON line with --json, text otherwise.
func printKV(c *cli.Context, v any, text string) error {
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(v)
	}
	_, err := fmt.Fprintln(c.App.Writer, text)
	return err
}

func kvGetCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "print the value of a key",
		ArgsUsage: "KEY",
		Description: "Prints the value as it is, without a newline; with --json the entry: key, value\n" +
			"(\"raw\", base64, when it is not UTF-8), create_rev, mod_rev, version, lease. The read\n" +
			"is linearizable unless --stale. A missing key exits 1.",
		Flags: kvClientFlags("print the entry as JSON", kvStaleFlag()),
		Action: func(c *cli.Context) error {
			args, err := kvKeyArgs(c, 1, 1)
			if err != nil {
				return err
			}
			return withKV(c, "get", true, func(ctx context.Context, cl *consensus.Client) error {
				e, found, err := cl.Get(ctx, args[0], kvReadOpts(c)...)
				switch {
				case err != nil:
					return err
				case !found:
					return errKVMissing
				case c.Bool("json"):
					return json.NewEncoder(c.App.Writer).Encode(newKVEntry(e))
				}
				_, err = c.App.Writer.Write(e.Value)
				return err
			})
		},
	}
}

// kvKeyArgs returns the arguments of a command whose first is a KEY,
// checked: 1 to consensus.MaxKeyLen bytes.
func kvKeyArgs(c *cli.Context, min, max int) ([]string, error) {
	args, err := argsOf(c, min, max)
	if err != nil {
		return nil, err
	}
	if len(args[0]) == 0 || len(args[0]) > consensus.MaxKeyLen {
		return nil, usageError{fmt.Errorf("KEY must be 1 to %d bytes, got %d", consensus.MaxKeyLen, len(args[0]))}
	}
	return args, nil
}

func kvReadOpts(c *cli.Context) []consensus.ReadOption {
	if c.Bool("stale") {
		return []consensus.ReadOption{consensus.Stale()}
	}
	return nil
}

// kvLeaseFlags tie a written key to a lease.
func kvLeaseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.Uint64Flag{Name: "lease", Usage: "tie the key to this existing lease: it goes when the lease does", EnvVars: []string{"ZMP_KV_LEASE"}},
		&cli.DurationFlag{Name: "ttl", Usage: "grant a new lease of this time to live and tie the key to it (the key is deleted when it expires)", EnvVars: []string{"ZMP_KV_TTL"}},
	}
}

// kvLease returns the lease a write ties its key to: --lease, or a new
// one of --ttl granted with cl, or 0.
func kvLease(ctx context.Context, c *cli.Context, cl *consensus.Client) (uint64, error) {
	if ttl := c.Duration("ttl"); ttl > 0 {
		return cl.Grant(ctx, ttl)
	}
	return c.Uint64("lease"), nil
}

// kvCheckLeaseFlags checks --lease and --ttl.
func kvCheckLeaseFlags(c *cli.Context) error {
	switch {
	case c.Duration("ttl") < 0:
		return usageError{errors.New("--ttl cannot be negative")}
	case c.IsSet("ttl") && c.IsSet("lease"):
		return usageError{errors.New("give --lease or --ttl, not both")}
	}
	return nil
}

// kvValue is VALUE: the argument, or stdin when it is "-" or missing.
func kvValue(c *cli.Context, args []string, i int) ([]byte, error) {
	if len(args) > i && args[i] != "-" {
		return []byte(args[i]), nil
	}
	v, err := io.ReadAll(c.App.Reader)
	if err != nil {
		return nil, fmt.Errorf("reading the value from stdin: %w", err)
	}
	return v, nil
}

func kvPutCommand() *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "set a key to a value and print the write's revision",
		ArgsUsage: "KEY [VALUE]",
		Description: "Without VALUE, or with VALUE -, the value is read from stdin to its end.\n" +
			"--ttl grants a lease and ties the key to it: the key is deleted when it expires.",
		Flags: kvClientFlags("print {\"key\", \"revision\", \"lease\"}", kvLeaseFlags()...),
		Action: func(c *cli.Context) error {
			args, err := kvKeyArgs(c, 1, 2)
			if err != nil {
				return err
			}
			if err := kvCheckLeaseFlags(c); err != nil {
				return err
			}
			value, err := kvValue(c, args, 1)
			if err != nil {
				return err
			}
			return withKV(c, "put", true, func(ctx context.Context, cl *consensus.Client) error {
				lease, err := kvLease(ctx, c, cl)
				if err != nil {
					return err
				}
				rev, err := cl.Put(ctx, args[0], value, lease)
				if err != nil {
					return err
				}
				text := fmt.Sprintf("revision %d", rev)
				if lease != 0 {
					text += fmt.Sprintf(" lease %d", lease)
				}
				return printKV(c, struct {
					Key   string `json:"key"`
					Rev   uint64 `json:"revision"`
					Lease uint64 `json:"lease,omitempty"`
				}{args[0], rev, lease}, text)
			})
		},
	}
}

func kvDelCommand() *cli.Command {
	return &cli.Command{
		Name:        "del",
		Usage:       "delete a key",
		ArgsUsage:   "KEY",
		Description: "A key that was not there exits 1.",
		Flags:       kvClientFlags("print {\"key\", \"deleted\", \"revision\"}"),
		Action: func(c *cli.Context) error {
			args, err := kvKeyArgs(c, 1, 1)
			if err != nil {
				return err
			}
			return withKV(c, "del", false, func(ctx context.Context, cl *consensus.Client) error {
				ok, rev, err := cl.Delete(ctx, args[0])
				switch {
				case err != nil:
					return err
				case !ok:
					return errKVMissing
				}
				return printKV(c, map[string]any{"key": args[0], "deleted": true, "revision": rev},
					fmt.Sprintf("deleted %s at revision %d", args[0], rev))
			})
		},
	}
}

// errKVNotApplied is a compare-and-swap that found another revision.
var errKVNotApplied = errors.New("not applied")

func kvCASCommand() *cli.Command {
	return &cli.Command{
		Name:      "cas",
		Usage:     "set a key only if its mod_rev is MODREV (0: only if it is absent)",
		ArgsUsage: "KEY MODREV [VALUE]",
		Description: "Compare-and-swap: when the key's mod_rev is MODREV (0: when there is no key), sets\n" +
			"it and prints the write's revision. Otherwise exits 1 and prints the key's current\n" +
			"entry (as get --json does; null when there is none). VALUE - or none: stdin.",
		Flags: kvClientFlags("print {\"key\", \"applied\", \"revision\"} or {\"key\", \"applied\", \"current\"}", kvLeaseFlags()...),
		Action: func(c *cli.Context) error {
			args, err := kvKeyArgs(c, 2, 3)
			if err != nil {
				return err
			}
			modRev, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return usageError{fmt.Errorf("kv cas: MODREV must be a revision (a number, 0 for absent), got %q", args[1])}
			}
			if err := kvCheckLeaseFlags(c); err != nil {
				return err
			}
			value, err := kvValue(c, args, 2)
			if err != nil {
				return err
			}
			return withKV(c, "cas", false, func(ctx context.Context, cl *consensus.Client) error {
				lease, err := kvLease(ctx, c, cl)
				if err != nil {
					return err
				}
				ok, rev, cur, err := cl.CompareAndSwap(ctx, args[0], modRev, value, lease)
				if err != nil {
					return err
				}
				if ok {
					return printKV(c, map[string]any{"key": args[0], "applied": true, "revision": rev}, fmt.Sprintf("revision %d", rev))
				}
				return kvNotApplied(c, args[0], modRev, cur)
			})
		},
	}
}

// kvNotApplied prints the current entry of a cas that did not apply
// and returns the error that exits 1.
func kvNotApplied(c *cli.Context, key string, modRev uint64, cur *consensus.Entry) error {
	var curJSON *kvEntry
	why := fmt.Sprintf("there is no key %q", key)
	if cur != nil {
		e := newKVEntry(*cur)
		curJSON = &e
		why = fmt.Sprintf("%q has mod_rev %d", key, cur.ModRev)
	}
	if c.Bool("json") {
		json.NewEncoder(c.App.Writer).Encode(map[string]any{"key": key, "applied": false, "current": curJSON})
	} else if curJSON != nil {
		b, _ := json.Marshal(curJSON)
		fmt.Fprintf(c.App.Writer, "%s\n", b)
	} else {
		fmt.Fprintln(c.App.Writer, "null")
	}
	return fmt.Errorf("%w: %s, not %d", errKVNotApplied, why, modRev)
}

func kvListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "print the keys under a prefix with their values",
		ArgsUsage: "[PREFIX]",
		Description: "Prints KEY, MOD_REV and VALUE (JSON as it is, other text quoted, binary as hex)\n" +
			"for each key that begins with PREFIX (every key without one), in key order; --json:\n" +
			"{\"revision\", \"entries\"} with entries as get --json prints them.",
		Flags: kvClientFlags("print {\"revision\", \"entries\"}", kvStaleFlag(),
			&cli.IntFlag{Name: "limit", Usage: "print at most this many keys (0: up to the service's bound of 100000)", EnvVars: []string{"ZMP_KV_LIMIT"}}),
		Action: func(c *cli.Context) error {
			args, err := argsOf(c, 0, 1)
			if err != nil {
				return err
			}
			if c.Int("limit") < 0 {
				return usageError{errors.New("--limit cannot be negative")}
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			return withKV(c, "list", true, func(ctx context.Context, cl *consensus.Client) error {
				es, rev, err := cl.List(ctx, prefix, c.Int("limit"), kvReadOpts(c)...)
				if err != nil {
					return err
				}
				return printKVList(c, es, rev)
			})
		},
	}
}

func printKVList(c *cli.Context, es []consensus.Entry, rev uint64) error {
	if c.Bool("json") {
		out := struct {
			Rev     uint64    `json:"revision"`
			Entries []kvEntry `json:"entries"`
		}{Rev: rev, Entries: []kvEntry{}}
		for _, e := range es {
			out.Entries = append(out.Entries, newKVEntry(e))
		}
		return json.NewEncoder(c.App.Writer).Encode(out)
	}
	if len(es) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "no keys (revision %d)\n", rev)
		return nil
	}
	t := newTable(c.App.Writer, "KEY", "MOD_REV", "VALUE")
	for _, e := range es {
		t.row(e.Key, strconv.FormatUint(e.ModRev, 10), dataText(e.Value, false))
	}
	return t.flush()
}
