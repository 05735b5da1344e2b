package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// flagsFirst returns args (args[0] is the program) with the flags given
// after the positional arguments of the command that runs moved in
// front of those arguments, so that
//
//	zmptool call add '{"A":1}' --node calc
//
// runs as zmptool call --node calc -- add '{"A":1}'. urfave/cli, like
// Go's flag package, stops reading flags at the first argument.
//
// It follows the command path through app's commands and subcommands
// and leaves the tokens up to the command that runs (one without
// subcommands) as they are. Among that command's tokens it moves every
// one that names one of its flags (-f, --f or --f=v), with the next
// token as the value when the flag takes one and is not written --f=v,
// and every other token starting with "--" (for urfave/cli to report as
// an unknown flag). The arguments follow a "--", so that one starting
// with "-" (a negative JSON number) stays an argument. A "--" of the
// user's ends the flags as usual: the tokens after it are arguments.
// With --help the arguments are left out: the command's help is shown.
// Arguments that name no command are left alone.
func flagsFirst(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	flags := append([]cli.Flag{cli.HelpFlag, cli.VersionFlag}, app.Flags...)
	cmds := app.Commands
	for {
		n := leadingFlags(flags, rest)
		out, rest = append(out, rest[:n]...), rest[n:]
		if len(rest) == 0 || rest[0] == "--" {
			return append(out, rest...)
		}
		cmd := findCommand(cmds, rest[0])
		if cmd == nil {
			return append(out, rest...)
		}
		out, rest = append(out, rest[0]), rest[1:]
		flags = append([]cli.Flag{cli.HelpFlag}, cmd.Flags...)
		if len(cmd.Subcommands) == 0 {
			return append(out, reorderFlags(flags, rest, passesArgs(cmd))...)
		}
		cmds = cmd.Subcommands
	}
}

// leadingFlags returns how many of args are flags (with their values)
// before the first argument or "--".
func leadingFlags(flags []cli.Flag, args []string) int {
	i := 0
	for i < len(args) && isFlag(args[i]) {
		if f := lookupFlag(flags, args[i]); f != nil && needsValue(f, args[i]) {
			i++
		}
		i++
	}
	return min(i, len(args))
}

// passesArgs reports whether cmd's arguments after the first are those
// of something it runs (its ArgsUsage ends in "[ARGS...]", as run's
// "KIND [ARGS...]"): they are passed on as they are, flags included.
func passesArgs(cmd *cli.Command) bool { return strings.HasSuffix(cmd.ArgsUsage, "[ARGS...]") }

// reorderFlags puts the flags among args (a command's tokens) first,
// then "--" and the arguments, in their order. With rest set, every
// token after the first argument is an argument.
func reorderFlags(flags []cli.Flag, args []string, rest bool) []string {
	var flagArgs, positional []string
	help := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--", rest && len(positional) > 0:
			if a == "--" {
				i++
			}
			positional = append(positional, args[i:]...)
			i = len(args)
		case !isFlag(a):
			positional = append(positional, a)
		default:
			f := lookupFlag(flags, a)
			if f == nil && len(positional) > 0 && !strings.HasPrefix(a, "--") {
				positional = append(positional, a) // -1: an argument
				continue
			}
			flagArgs = append(flagArgs, a)
			help = help || f == cli.HelpFlag
			if f != nil && needsValue(f, a) {
				if i+1 == len(args) {
					// The value is missing: the flag must come last for
					// urfave/cli to say so (not take "--" or an argument
					// as its value), and it fails before any argument
					// matters.
					return flagArgs
				}
				i++
				flagArgs = append(flagArgs, args[i])
			}
		}
	}
	if len(positional) == 0 || help {
		// urfave/cli would take an argument after --help for a help topic
		return flagArgs
	}
	return append(append(flagArgs, "--"), positional...)
}

// isFlag reports whether a looks like a flag to Go's flag package.
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' && a != "--" }

// lookupFlag returns the flag among flags that a (-f, --f, --f=v)
// names, or nil.
func lookupFlag(flags []cli.Flag, a string) cli.Flag {
	name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	name, _, _ = strings.Cut(name, "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// needsValue reports whether flag token a of f is followed by its value:
// f takes one and a is not written --f=value.
func needsValue(f cli.Flag, a string) bool {
	v, ok := f.(cli.DocGenerationFlag)
	return ok && v.TakesValue() && !strings.Contains(a, "=")
}

// findCommand returns the command among cmds named name, or nil.
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
