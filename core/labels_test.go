package core

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCheckLabels(t *testing.T) {
	many := map[string]string{}
	for i := range MaxLabels + 1 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	atMost := map[string]string{}
	for i := range MaxLabels {
		atMost[fmt.Sprintf("k%d", i)] = "v"
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		ok     bool
		says   string // in the error
	}{
		{"nil", nil, true, ""},
		{"plain", map[string]string{"zone": "eu-1", "role": "cache"}, true, ""},
		{"dotted slashed key", map[string]string{"app.example.org/tier": "front", "0x": ""}, true, ""},
		{"key of 63 bytes", map[string]string{strings.Repeat("a", MaxLabelKey): "x"}, true, ""},
		{"value of 255 bytes", map[string]string{"k": strings.Repeat("é", 127) + "x"}, true, ""},
		{"64 labels", atMost, true, ""},
		{"65 labels", many, false, "65 labels"},
		{"empty key", map[string]string{"": "x"}, false, "1 to 63"},
		{"key of 64 bytes", map[string]string{strings.Repeat("a", MaxLabelKey+1): "x"}, false, "1 to 63"},
		{"upper case key", map[string]string{"Zone": "x"}, false, "begin with"},
		{"key starting with dot", map[string]string{".zone": "x"}, false, "begin with"},
		{"key with space", map[string]string{"my zone": "x"}, false, "not in [a-z0-9._/-]"},
		{"key with =", map[string]string{"a=b": "x"}, false, "not in"},
		{"value of 256 bytes", map[string]string{"k": strings.Repeat("v", MaxLabelValue+1)}, false, "256 bytes"},
		{"value not UTF-8", map[string]string{"k": "\xff"}, false, "UTF-8"},
		{"value with newline", map[string]string{"k": "a\nb"}, false, "control"},
		{"value with DEL", map[string]string{"k": "a\x7f"}, false, "control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLabels(tc.labels)
			if tc.ok {
				if err != nil {
					t.Fatalf("CheckLabels: %v", err)
				}
				if _, err := buildConfig([]Option{WithLabels(tc.labels)}); err != nil {
					t.Fatalf("WithLabels: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadLabel) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("CheckLabels = %v, want ErrBadLabel saying %q", err, tc.says)
			}
			if _, err := NewPeer(t.Context(), "bad-labels", WithRegistry(NewMemRegistry()), WithLabels(tc.labels)); !errors.Is(err, ErrBadLabel) {
				t.Fatalf("NewPeer with WithLabels = %v, want ErrBadLabel", err)
			}
			if _, err := (&Peer{}).Subscribe("t", FromLabels(tc.labels)); !errors.Is(err, ErrBadLabel) {
				t.Fatalf("Subscribe with FromLabels = %v, want ErrBadLabel", err)
			}
		})
	}
}

func TestHasLabels(t *testing.T) {
	n := NodeInfo{Labels: map[string]string{"zone": "a", "role": "cache", "empty": ""}}
	for _, tc := range []struct {
		sel  map[string]string
		want bool
	}{
		{nil, true},
		{map[string]string{}, true},
		{map[string]string{"zone": "a"}, true},
		{map[string]string{"zone": "a", "role": "cache"}, true},
		{map[string]string{"empty": ""}, true},
		{map[string]string{"zone": "b"}, false},
		{map[string]string{"zone": "a", "rack": "1"}, false},
		{map[string]string{"rack": ""}, false}, // absent is not empty
	} {
		if got := n.HasLabels(tc.sel); got != tc.want {
			t.Errorf("HasLabels(%v) = %v, want %v", tc.sel, got, tc.want)
		}
	}
	if !(NodeInfo{}).HasLabels(nil) || (NodeInfo{}).HasLabels(map[string]string{"zone": "a"}) {
		t.Error("a node without labels: matches only the empty selector")
	}
}

func TestFormatLabels(t *testing.T) {
	if got := FormatLabels(map[string]string{"zone": "a", "app": "x y"}); got != "app=x y,zone=a" {
		t.Errorf("FormatLabels = %q", got)
	}
	if got := FormatLabels(nil); got != "" {
		t.Errorf("FormatLabels(nil) = %q", got)
	}
}

// The labels given are copied in, Info hands out copies, and the
// registry entry carries them.
func TestPeerInfoLabels(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		given := map[string]string{"zone": "eu-1"}
		p := e.peer("labelled", WithLabels(given))
		given["zone"] = "changed by the caller"
		info := p.Info()
		if info.Labels["zone"] != "eu-1" {
			t.Fatalf("Info().Labels = %v: the option did not copy", info.Labels)
		}
		info.Labels["zone"] = "changed by a reader"
		if got := p.Info().Labels["zone"]; got != "eu-1" {
			t.Fatalf("Info().Labels = %q after a reader changed its copy", got)
		}
		n, err := Lookup(e.ctx(5*time.Second), e.reg, "labelled")
		if err != nil || n.Labels["zone"] != "eu-1" || len(n.Labels) != 1 {
			t.Fatalf("registry entry labels = %v, %v", n.Labels, err)
		}
		if e.peer("plain").Info().Labels != nil {
			t.Error("a peer without labels: Info().Labels not nil")
		}
	})
}

func TestRemoteRegistryRejectsLabels(t *testing.T) {
	if _, err := NewRemoteRegistry("tcp://127.0.0.1:1", WithLabels(map[string]string{"a": "b"})); err == nil || !strings.Contains(err.Error(), "WithLabels") {
		t.Fatalf("NewRemoteRegistry(WithLabels) = %v", err)
	}
}

// Labels reach a node run by the Launcher as a child process, and one
// run in this process, and both list them in the registry.
func TestLabelsReachLauncherNodes(t *testing.T) {
	e := newNodeEnv(t)
	labels := map[string]string{"zone": "eu-1", "app.example.org/tier": "back end"}
	for _, mode := range []nodeMode{modeChild, modeInProcess} {
		name := "labelled-" + string(mode)
		n := e.node(mode, "calc", name, WithLabels(labels))
		e.start(n)
		if got := n.Status().Info.Labels; FormatLabels(got) != FormatLabels(labels) {
			t.Errorf("%s: Status().Info.Labels = %v", name, got)
		}
		entry, err := Lookup(e.ctx, e.reg, name)
		if err != nil {
			t.Fatal(err)
		}
		if FormatLabels(entry.Labels) != FormatLabels(labels) || !entry.HasLabels(map[string]string{"zone": "eu-1"}) {
			t.Errorf("%s: registry entry labels = %v", name, entry.Labels)
		}
		if mode == modeChild && entry.PID == os.Getpid() {
			t.Errorf("%s: runs in this process, not a child", name)
		}
	}
}
