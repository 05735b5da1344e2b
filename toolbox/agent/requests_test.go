package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/gozmp/zmp/core"
)

// Bad requests get typed errors with stable codes, and are counted;
// the agent goes on serving.
func TestBadRequests(t *testing.T) {
	h := newHarness(t, WithMaxNodes(2), WithArgLimits(4, 64))
	h.start(Spec{Name: "c1", Kind: "calc"})
	h.start(Spec{Name: "c2", Kind: "calc"})
	tests := []struct {
		name    string
		service string
		body    string
		want    error
		code    core.Code
		text    string
	}{
		{"unknown kind", ServiceStart, `{"name":"x","kind":"nosuch"}`, ErrUnknownKind, CodeUnknownKind, `"nosuch" is not a kind of a1`},
		{"too many nodes", ServiceStart, `{"name":"c3","kind":"calc"}`, ErrTooManyNodes, CodeTooManyNodes, "holds 2 nodes"},
		{"bad args", ServiceStart, `{"name":"c1x","kind":"greeter","args":["--colour","red"]}`, ErrBadArgs, CodeBadArgs, "flag provided but not defined: -colour"},
		{"args to a kind without", ServiceStart, `{"name":"c1x","kind":"calc","args":["x"]}`, ErrBadArgs, CodeBadArgs, "takes no arguments"},
		{"too many args", ServiceStart, `{"name":"x","kind":"greeter","args":["a","b","c","d","e"]}`, ErrTooLarge, CodeTooLarge, "5 arguments, at most 4"},
		{"args too long", ServiceStart, `{"name":"x","kind":"greeter","args":["` + strings.Repeat("a", 65) + `"]}`, ErrTooLarge, CodeTooLarge, "more than 64 bytes"},
		{"control character", ServiceStart, `{"name":"x","kind":"greeter","args":["a\u0000b"]}`, ErrBadArgs, CodeBadArgs, "argument 0 is not text"},
		{"empty name", ServiceStart, `{"name":"","kind":"calc"}`, ErrBadName, CodeBadName, "must be 1 to 128 bytes"},
		{"name with a slash", ServiceStart, `{"name":"a/b","kind":"calc"}`, ErrBadName, CodeBadName, "only letters, digits"},
		{"name with a space", ServiceStart, `{"name":"a b","kind":"calc"}`, ErrBadName, CodeBadName, "only letters"},
		{"name beginning with a dot", ServiceStart, `{"name":".a","kind":"calc"}`, ErrBadName, CodeBadName, "beginning with a letter"},
		{"name too long", ServiceStart, `{"name":"` + strings.Repeat("n", 129) + `","kind":"calc"}`, ErrBadName, CodeBadName, "1 to 128 bytes"},
		{"bad restart type", ServiceStart, `{"name":"x","kind":"calc","restart":"always"}`, ErrBadRequest, CodeBadRequest, `restart type "always"`},
		{"not JSON", ServiceStart, `name=x`, ErrBadRequest, CodeBadRequest, "invalid character"},
		{"unknown field", ServiceStart, `{"name":"x","kind":"calc","cmd":"rm -rf /"}`, ErrBadRequest, CodeBadRequest, `unknown field "cmd"`},
		{"trailing data", ServiceStart, `{"name":"x","kind":"calc"} {}`, ErrBadRequest, CodeBadRequest, "data after the request"},
		{"args not strings", ServiceStart, `{"name":"x","kind":"calc","args":[1]}`, ErrBadRequest, CodeBadRequest, "cannot unmarshal number"},
		{"too large", ServiceStart, `{"name":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, ErrTooLarge, CodeTooLarge, "at most 262144"},
		{"stop unknown node", ServiceStop, `{"name":"nosuch"}`, ErrNotFound, CodeNotFound, `holds no node "nosuch"`},
		{"restart bad name", ServiceRestart, `{"name":"../etc"}`, ErrBadName, CodeBadName, "only letters"},
		{"ps with a body", ServicePS, `{"all":true}`, ErrBadRequest, CodeBadRequest, "unknown field"},
		{"status with junk", ServiceStatus, `[1,2]`, ErrBadRequest, CodeBadRequest, "cannot unmarshal array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.peer.Call(h.ctx, tt.service, []byte(tt.body), core.OnNode("a1"))
			var re *core.RemoteError
			if !errors.As(err, &re) || re.Code != tt.code || !strings.Contains(re.Message, tt.text) {
				t.Fatalf("%s %s: %v, want code %d with %q", tt.service, tt.body[:min(len(tt.body), 60)], err, tt.code, tt.text)
			}
			if err := fromRemote(err); !errors.Is(err, tt.want) || Code(err) != tt.code {
				t.Errorf("the client's error %v does not match %v", err, tt.want)
			}
		})
	}
	for _, body := range []string{"", "null", "{}", " "} {
		if _, err := h.peer.Call(h.ctx, ServicePS, []byte(body), core.OnNode("a1")); err != nil {
			t.Errorf("ps %q: %v", body, err)
		}
	}
	refused := h.agent.Status().Counts.Refused
	if refused["bad_request"] != 7 || refused["bad_name"] != 6 || refused["too_large"] != 3 || refused["not_found"] != 1 {
		t.Errorf("refused: %v", refused)
	}
	if nodes := h.agent.Nodes(); len(nodes) != 2 || nodes[0].State != StateRunning || nodes[1].State != StateRunning {
		t.Errorf("nodes after the bad requests: %+v", nodes)
	}
}

// Requests the client could send are checked by the same rules before
// they are sent (names) and after (the agent's limits).
func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "A-1", "node_2.b", "9lives", strings.Repeat("x", MaxNameLen)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "_a", ".a", "a b", "a/b", "é", "a\n", strings.Repeat("x", MaxNameLen+1)} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", bad, err)
		}
	}
}
