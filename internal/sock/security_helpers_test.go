package sock

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gozmp/zmp/internal/zmtp"
	"golang.org/x/crypto/nacl/box"
)

// secVariant is one security setting for a test that pairs a zmp end
// with another end (zmp or pyzmq): what the zmp server and client run,
// and the ZMP_PY_SECURITY a python client or server runs.
type secVariant struct {
	name             string
	server, client   zmtp.Security
	pyClient, pyServ map[string]any
}

func newKeyPair(t testing.TB) (pub, sec zmtp.Key) {
	t.Helper()
	p, s, err := box.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return *p, *s
}

// securityVariants returns NULL, PLAIN and CURVE settings in which
// the server admits exactly the one client configured.
func securityVariants(t testing.TB) []secVariant {
	sPub, sSec := newKeyPair(t)
	cPub, cSec := newKeyPair(t)
	plainAuth := zmtp.AuthFunc(func(r zmtp.AuthRequest) (string, error) {
		if r.Username == "alice" && r.Password == "s3cret" {
			return r.Username, nil
		}
		return "", errors.New("bad password")
	})
	curveAuth := zmtp.AuthFunc(func(r zmtp.AuthRequest) (string, error) {
		if r.ClientKey == cPub {
			return "client-c", nil
		}
		return "", errors.New("unknown key")
	})
	return []secVariant{
		{name: "null"},
		{
			name:     "plain",
			server:   zmtp.Security{Mechanism: zmtp.MechanismPlain, Server: true, Auth: plainAuth},
			client:   zmtp.Security{Mechanism: zmtp.MechanismPlain, Username: "alice", Password: "s3cret"},
			pyClient: map[string]any{"mechanism": "PLAIN", "user": "alice", "password": "s3cret"},
			pyServ:   map[string]any{"mechanism": "PLAIN", "server": true, "passwords": map[string]string{"alice": "s3cret"}},
		},
		{
			name:     "curve",
			server:   zmtp.Security{Mechanism: zmtp.MechanismCurve, Server: true, PublicKey: sPub, SecretKey: sSec, Auth: curveAuth},
			client:   zmtp.Security{Mechanism: zmtp.MechanismCurve, PublicKey: cPub, SecretKey: cSec, ServerKey: sPub},
			pyClient: map[string]any{"mechanism": "CURVE", "public": cPub.String(), "secret": cSec.String(), "server_key": sPub.String()},
			pyServ:   map[string]any{"mechanism": "CURVE", "server": true, "public": sPub.String(), "secret": sSec.String(), "allow": []string{cPub.String()}},
		},
	}
}

// pyEnv is the environment entry that hands settings to zsec.py.
func pyEnv(t testing.TB, settings map[string]any) string {
	if settings == nil {
		settings = map[string]any{}
	}
	b, err := json.Marshal(settings)
	if err != nil {
		t.Fatal(err)
	}
	return "ZMP_PY_SECURITY=" + string(b)
}

// forEachSecurity runs f once per security variant.
func forEachSecurity(t *testing.T, f func(t *testing.T, sv secVariant)) {
	for _, sv := range securityVariants(t) {
		t.Run(sv.name, func(t *testing.T) { f(t, sv) })
	}
}
