package main

import (
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInspectUsageErrors(t *testing.T) {
	t.Setenv("ZMP_REGISTRY", t.TempDir()) // never the user's registry
	tests := []runCase{
		{"list without kind shows help", []string{"list"}, exitOK, "services", ""},
		{"list unknown kind", []string{"list", "things"}, exitUsage, "", "unknown kind"},
		{"list nodes extra argument", []string{"list", "nodes", "extra"}, exitUsage, "", `zmptool: list nodes takes no arguments, got 1: "extra" (usage: zmptool list nodes [command options])`},
		{"list services extra arguments", []string{"list", "services", "a", "b"}, exitUsage, "", `list services takes no arguments, got 2: "a" "b" (usage: zmptool list services [command options])`},
		{"list topics extra argument", []string{"list", "topics", "x"}, exitUsage, "", `list topics takes no arguments, got 1: "x" (usage: zmptool list topics [command options])`},
		{"list nodes bad timeout", []string{"list", "nodes", "--timeout", "soon"}, exitUsage, "", "timeout"},
		{"list topics unknown flag", []string{"list", "topics", "--bogus"}, exitUsage, "", "bogus"},
		{"info without node", []string{"info"}, exitUsage, "", `info takes 1 argument, got 0 (usage: zmptool info [command options] NODE)`},
		{"info two nodes", []string{"info", "a", "b"}, exitUsage, "", `info takes 1 argument, got 2: "a" "b"`},
		{"call without service", []string{"call"}, exitUsage, "", "call takes 1 or 2 arguments, got 0 (usage: zmptool call [command options] SERVICE [JSON])"},
		{"call bad json", []string{"call", "add", "{a:1}"}, exitUsage, "", "not valid JSON"},
		{"call flag after arguments is read", []string{"call", "add", "1", "--timeout", "soon"}, exitUsage, "", `invalid value "soon" for flag -timeout`},
		{"call flag after arguments without its value", []string{"call", "add", "1", "--node"}, exitUsage, "", "flag needs an argument: -node"},
		{"call unknown flag after arguments", []string{"call", "add", "1", "--bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{"call after --, flags are arguments", []string{"call", "--", "add", "--node", "x"}, exitUsage, "", `call takes 1 or 2 arguments, got 3: "add" "--node" "x"`},
		{"pub flag after arguments is read", []string{"pub", "t", "1", "--rate", "0"}, exitUsage, "", "--rate must be positive"},
		{"pub negative number argument, flag after it", []string{"pub", "t", "-1", "--count", "-1"}, exitUsage, "", "must not be negative"},
		{"list nodes flag after extra argument", []string{"list", "nodes", "extra", "--json"}, exitUsage, "", `list nodes takes no arguments, got 1: "extra"`},
		{"list nodes json after the kind", []string{"list", "nodes", "--json"}, exitOK, "[]", ""},
		{"help after an argument", []string{"info", "calc", "--help"}, exitOK, "zmptool info [command options] NODE", ""},
		{"call introspection without --node", []string{"call", "zmp.ping"}, exitUsage, "", "zmp.ping is one of zmp's own services, answered by every node and not listed in the registry: pass --node NAME"},
		{"call introspection without --node, waiting", []string{"call", "--wait", "zmp.stats"}, exitUsage, "", "pass --node NAME"},
		{"call bad timeout", []string{"call", "--timeout", "-", "add"}, exitUsage, "", "timeout"},
		{"pub without message", []string{"pub", "t"}, exitUsage, "", `pub takes 2 arguments, got 1: "t" (usage: zmptool pub [command options] TOPIC JSON)`},
		{"pub bad json", []string{"pub", "t", "hello"}, exitUsage, "", "not valid JSON"},
		{"pub zero rate", []string{"pub", "--rate", "0", "t", "1"}, exitUsage, "", "--rate must be positive"},
		{"pub negative count", []string{"pub", "--count", "-1", "t", "1"}, exitUsage, "", "must not be negative"},
		{"echo without topic", []string{"echo"}, exitUsage, "", "TOPIC"},
		{"echo negative count", []string{"echo", "--count", "-2", "t"}, exitUsage, "", "must not be negative"},
		{"hz without topic", []string{"hz"}, exitUsage, "", "TOPIC"},
		{"hz zero window", []string{"hz", "--window", "0", "t"}, exitUsage, "", "must be positive"},
		{"hz zero interval", []string{"hz", "--interval", "0s", "t"}, exitUsage, "", "must be positive"},
		{"graph with argument", []string{"graph", "x"}, exitUsage, "", `graph takes no arguments, got 1: "x"`},
		{"graph unknown format", []string{"graph", "--out", "g.txt"}, exitUsage, "", ".dot, .gv, .svg"},
		{"demo bad transport", []string{"demo", "--transport", "udp"}, exitUsage, "", "tcp or ipc"},
		{"demo zero interval", []string{"demo", "--sensor-interval", "0s"}, exitUsage, "", "must be positive"},
	}
	checkRunCases(t, tests)
}

// Every command that runs (has no subcommands) refuses arguments beyond
// the ones it takes with exit code 2, naming its whole command path.
func TestExtraArgumentsAreUsageErrors(t *testing.T) {
	t.Setenv("ZMP_REGISTRY", t.TempDir()) // never the user's registry
	app := newApp(nil, io.Discard, io.Discard)
	walkCommands(app.Commands, nil, func(path []string, c *cli.Command) {
		if len(c.Subcommands) > 0 || passesArgs(c) { // run KIND [ARGS...] takes any number
			return
		}
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runTool(append(path, "a", "b", "c", "d")...) // no command takes 4
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q", code, stdout)
			}
			for _, want := range []string{"zmptool: " + name + " takes ", `got 4: "a" "b" "c" "d" (usage: zmptool ` + name + " "} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
		})
	})
}

// walkCommands calls f with the path of every command and subcommand.
func walkCommands(cmds []*cli.Command, path []string, f func(path []string, c *cli.Command)) {
	for _, c := range cmds {
		p := append(append([]string(nil), path...), c.Name)
		f(p, c)
		walkCommands(c.Subcommands, p, f)
	}
}

func TestHelpAtEveryLevel(t *testing.T) {
	app := newApp(nil, io.Discard, io.Discard)
	walkCommands(app.Commands, nil, func(path []string, c *cli.Command) {
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			code, stdout, stderr := runTool(append(path, "--help")...)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if !strings.Contains(stdout, "zmptool "+strings.Join(path, " ")) || !strings.Contains(stdout, c.Usage) {
				t.Errorf("help lacks the command line or usage:\n%s", stdout)
			}
			for _, f := range c.Flags {
				if !strings.Contains(stdout, "--"+f.Names()[0]) {
					t.Errorf("help lacks --%s:\n%s", f.Names()[0], stdout)
				}
			}
		})
	})
}

// Every flag of every command can be set from a ZMP_ variable, and
// its help shows which.
func TestEveryFlagHasAnEnvVar(t *testing.T) {
	app := newApp(nil, io.Discard, io.Discard)
	walkCommands(app.Commands, nil, func(path []string, c *cli.Command) {
		for _, f := range c.Flags {
			ev, ok := f.(interface{ GetEnvVars() []string })
			if !ok || len(ev.GetEnvVars()) == 0 || !strings.HasPrefix(ev.GetEnvVars()[0], "ZMP_") {
				t.Errorf("zmptool %s --%s has no ZMP_ environment variable", strings.Join(path, " "), f.Names()[0])
				continue
			}
			if !strings.Contains(f.String(), "$"+ev.GetEnvVars()[0]) {
				t.Errorf("help of zmptool %s --%s does not name $%s: %s", strings.Join(path, " "), f.Names()[0], ev.GetEnvVars()[0], f.String())
			}
		}
	})
}

func TestEnvVarsSetFlags(t *testing.T) {
	t.Setenv("ZMP_REGISTRY", t.TempDir())
	t.Setenv("ZMP_JSON", "true")
	code, stdout, stderr := runTool("list", "nodes")
	if code != exitOK || strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("ZMP_JSON=true list nodes on an empty registry: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Setenv("ZMP_TIMEOUT", "soon")
	if code, _, stderr := runTool("list", "nodes"); code != exitUsage || !strings.Contains(stderr, "soon") {
		t.Fatalf("ZMP_TIMEOUT=soon: exit %d, stderr %q", code, stderr)
	}
}
