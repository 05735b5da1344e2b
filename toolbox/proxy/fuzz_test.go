package proxy

import (
	"bytes"
	"testing"
)

// splitFuzz turns fuzz bytes into frames, split at '|'.
func splitFuzz(b []byte) [][]byte { return bytes.Split(b, []byte("|")) }

func FuzzParseMDP(f *testing.F) {
	for _, s := range []string{
		"|MDPC01|echo|body", "|MDPC01|mmi.service|echo", "|MDPW01|\x01|svc",
		"|MDPW01|\x03|12345678||reply", "|MDPW01|\x04", "|MDPW01|\x05", "MDPC01|x", "|MDPW01|",
		"|MDPW01|\x03|1234||", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := parseMDP(splitFuzz(b))
		if !ok {
			return
		}
		if m.client && !validService([]byte(m.service)) {
			t.Fatalf("accepted service %q", m.service)
		}
		if !m.client && m.command == mdpReply && m.body == nil {
			t.Fatalf("reply without body slice")
		}
		// The worker side must parse what the broker sends.
		if m.client {
			r := &request{id: 7, name: m.service, body: m.body}
			kind, j := (mdpWorkerProto{}).parse(mdpCodec{}.toWorker(r))
			if kind != fromRequest || len(j.body) != len(m.body) {
				t.Fatalf("worker cannot parse the broker's request: %v %+v", kind, j)
			}
		}
	})
}

func FuzzWorkerParse(f *testing.F) {
	for _, s := range []string{"\x02", "12345678||body", "12345678|hop||body|more", "x", "||", "|MDPW01|\x02|id||b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := splitFuzz(b)
		for _, p := range []workerProto{ppWorker{}, mdpWorkerProto{service: []byte("s")}} {
			kind, j := p.parse(fr)
			if kind != fromRequest {
				continue
			}
			// What the worker replies must parse at the proxy as a reply
			// to the same id with the same body.
			reply := p.reply(j, [][]byte{[]byte("r")})
			switch p.(type) {
			case ppWorker:
				if !bytes.Equal(reply[0], j.id) {
					t.Fatalf("pp reply %q lost the address %q", reply, j.id)
				}
				if _, body, ok := splitEnvelope(reply[1:]); !ok || string(body[0]) != "r" {
					t.Fatalf("pp reply %q does not split", reply)
				}
			case mdpWorkerProto:
				m, ok := parseMDP(reply)
				if id, idOK := parseID(j.id); idOK && (!ok || m.command != mdpReply || m.id != id) {
					t.Fatalf("mdp reply %q parsed as %+v %v", reply, m, ok)
				}
			}
		}
	})
}

func FuzzSubscription(f *testing.F) {
	for _, s := range []string{"\x01news", "\x00news", "\x01", "\x02x", "", "\x01a|b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sub, prefix, ok := parseSubscription(splitFuzz(b))
		if !ok {
			return
		}
		if got := subscriptionFrames(sub, prefix); !bytes.Equal(got[0], b) {
			t.Fatalf("round trip %q → %q", b, got[0])
		}
	})
}
