package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestFlagsFirst(t *testing.T) {
	tests := []struct {
		name string
		in   string // split on spaces
		want string
	}{
		{"nothing", "", ""},
		{"flags already first", "call --node calc add {}", "call --node calc -- add {}"},
		{"flag with value after the arguments", "call add {} --node calc", "call --node calc -- add {}"},
		{"flag=value", "call add {} --node=calc", "call --node=calc -- add {}"},
		{"single dash", "call add -node calc", "call -node calc -- add"},
		{"bool flag takes no value", "call add --json {}", "call --json -- add {}"},
		{"bool flag=false", "call add --json=false {}", "call --json=false -- add {}"},
		{"flags between arguments", "pub t --count 3 1 --rate 5", "pub --count 3 --rate 5 -- t 1"},
		{"duration value starting with -", "call add --timeout -1s", "call --timeout -1s -- add"},
		{"repeated slice flag", "echo t --allow-addr a --allow-addr b", "echo --allow-addr a --allow-addr b -- t"},
		{"subcommand path", "list nodes --json", "list nodes --json"},
		{"subcommand path, extra argument", "list nodes extra --json", "list nodes --json -- extra"},
		{"proxy subcommand", "proxy queue --stats 1s", "proxy queue --stats 1s"},
		{"help after an argument", "info calc --help", "info --help"},
		{"help before an argument", "info -h calc", "info -h"},
		{"help at the top", "--help", "--help"},
		{"version", "-v", "-v"},
		{"negative number argument stays", "pub t -1 --count 2", "pub --count 2 -- t -1"},
		{"unknown -- flag is moved, to be reported", "call add --bogus", "call --bogus -- add"},
		{"unknown flag before the arguments", "call --bogus add", "call --bogus -- add"},
		{"user's -- ends the flags", "call -- add --node calc", "call -- add --node calc"},
		{"user's -- after a flag", "call add --json -- --node", "call --json -- add --node"},
		{"missing value comes last", "call add {} --node", "call --node"},
		{"unknown command left alone", "frobnicate --x y", "frobnicate --x y"},
		{"unknown list kind left alone", "list things --json", "list things --json"},
		{"help command left alone", "help list", "help list"},
		{"global flag then command", "--help call add --node x", "--help call --node x -- add"},
		{"global flag then command, with help", "-v call add --help", "-v call --help"},
		{"run: the kind's arguments stay", "run --on a1 echo --service e --forward f", "run --on a1 -- echo --service e --forward f"},
		{"run: flags before the kind move", "run echo --on a1", "run -- echo --on a1"},
		{"run: help after the kind is the kind's", "run --on a1 cache --help", "run --on a1 -- cache --help"},
		{"run: user's --", "run --on a1 -- echo -x", "run --on a1 -- echo -x"},
	}
	app := newApp(nil, io.Discard, io.Discard)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]string{"zmptool"}, strings.Fields(tt.in)...)
			want := append([]string{"zmptool"}, strings.Fields(tt.want)...)
			if got := flagsFirst(app, in); !reflect.DeepEqual(got, want) {
				t.Errorf("flagsFirst(%q)\n got %q\nwant %q", in, got, want)
			}
		})
	}
}
