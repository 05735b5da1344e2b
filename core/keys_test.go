package core

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	kp, err := GenerateKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	pubPath, secPath, err := kp.WriteFiles(dir, "node1")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(secPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, %v; want 0600", fi.Mode(), err)
	}
	got, err := LoadKeyPair(secPath)
	if err != nil || got != kp {
		t.Fatalf("LoadKeyPair = %v, %v", got, err)
	}
	if pub, err := LoadPublicKey(pubPath); err != nil || pub != kp.Public {
		t.Fatalf("LoadPublicKey = %v, %v", pub, err)
	}
	if _, err := LoadKeyPair(pubPath); err == nil {
		t.Fatal("LoadKeyPair read a public certificate as a key pair")
	}
	if _, _, err := kp.WriteFiles(dir, "node1"); err == nil {
		t.Fatal("WriteFiles overwrote existing key files")
	}
	keys, err := LoadPublicKeys(dir)
	if err != nil || len(keys) != 1 || keys["node1"] != kp.Public {
		t.Fatalf("LoadPublicKeys = %v, %v", keys, err)
	}
}

func TestKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	other, _ := GenerateKeyPair()
	kp, _ := GenerateKeyPair()
	files := map[string]string{
		"empty":    "",
		"garbage":  "metadata\ncurve\n    public-key = \"short\"\n",
		"mismatch": "curve\n    public-key = \"" + other.Public.String() + "\"\n    secret-key = \"" + kp.Secret.String() + "\"\n",
		"badchar":  "curve\n    secret-key = \"" + strings.Repeat("~", 40) + "\"\n",
	}
	for name, text := range files {
		path := filepath.Join(dir, name+SecretKeySuffix)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyPair(path); err == nil {
			t.Errorf("%s: LoadKeyPair accepted it", name)
		}
	}
	if _, err := ParseKey(strings.Repeat("0", 39)); err == nil {
		t.Error("ParseKey accepted 39 characters")
	}
	if _, err := LoadKeyPair(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadKeyPair of a missing file succeeded")
	}
}

// TestKeyFilesReadByPyzmq: pyzmq's zmq.auth.load_certificate reads the
// files zmp writes, and zmp reads the files pyzmq writes.
func TestKeyFilesReadByPyzmq(t *testing.T) {
	if _, err := exec.Command("/usr/bin/python3", "-c", "import zmq.auth").CombinedOutput(); err != nil {
		if os.Getenv("ZMP_REQUIRE_INTEROP") == "1" {
			t.Fatalf("python3-zmq required: %v", err)
		}
		t.Skip("python3-zmq not installed (apt-get install python3-zmq)")
	}
	dir := t.TempDir()
	kp, _ := GenerateKeyPair()
	_, secPath, err := kp.WriteFiles(dir, "zmpnode")
	if err != nil {
		t.Fatal(err)
	}
	script := `
import sys, zmq.auth
pub, sec = zmq.auth.load_certificate(sys.argv[1])
print(pub.decode(), sec.decode())
zmq.auth.create_certificates(sys.argv[2], "pynode")
`
	out, err := exec.Command("/usr/bin/python3", "-c", script, secPath, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if want := kp.Public.String() + " " + kp.Secret.String(); strings.TrimSpace(string(out)) != want {
		t.Fatalf("pyzmq read %q, want %q", out, want)
	}
	pyPair, err := LoadKeyPair(filepath.Join(dir, "pynode"+SecretKeySuffix))
	if err != nil {
		t.Fatalf("reading pyzmq's key file: %v", err)
	}
	keys, err := LoadPublicKeys(dir)
	if err != nil || keys["pynode"] != pyPair.Public || keys["zmpnode"] != kp.Public {
		t.Fatalf("LoadPublicKeys = %v, %v", keys, err)
	}
}

func TestAuthenticatorRules(t *testing.T) {
	known, _ := GenerateKeyPair()
	unknown, _ := GenerateKeyPair()
	a, err := NewAuthenticator(AllowKeys(known.Public), AllowUser("bob", "pw"),
		AllowAddrs("127.0.0.0/8", "10.1.2.3"), DenyAddrs("127.0.0.66"), WithAuthLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		req  AuthRequest
		user string
		ok   bool
	}{
		{AuthRequest{Mechanism: "CURVE", Address: "127.0.0.1:5000", ClientKey: known.Public}, known.Public.String(), true},
		{AuthRequest{Mechanism: "CURVE", Address: "127.0.0.1:5000", ClientKey: unknown.Public}, "", false},
		{AuthRequest{Mechanism: "CURVE", Address: "10.1.2.3:1", ClientKey: known.Public}, known.Public.String(), true},
		{AuthRequest{Mechanism: "CURVE", Address: "10.1.2.4:1", ClientKey: known.Public}, "", false},
		{AuthRequest{Mechanism: "CURVE", Address: "127.0.0.66:1", ClientKey: known.Public}, "", false},
		{AuthRequest{Mechanism: "CURVE", Address: "[::ffff:127.0.0.1]:9", ClientKey: known.Public}, known.Public.String(), true},
		{AuthRequest{Mechanism: "CURVE", Address: "", ClientKey: known.Public}, known.Public.String(), true}, // ipc
		{AuthRequest{Mechanism: "PLAIN", Address: "127.0.0.1:1", Username: "bob", Password: "pw"}, "bob", true},
		{AuthRequest{Mechanism: "PLAIN", Address: "127.0.0.1:1", Username: "bob", Password: "pW"}, "", false},
		{AuthRequest{Mechanism: "PLAIN", Address: "127.0.0.1:1", Username: "eve", Password: ""}, "", false},
		{AuthRequest{Mechanism: "NULL", Address: "127.0.0.1:1"}, "", true},
		{AuthRequest{Mechanism: "NULL", Address: "192.168.0.1:1"}, "", false},
	}
	for i, tc := range cases {
		user, err := a.Authenticate(tc.req)
		if (err == nil) != tc.ok || user != tc.user {
			t.Errorf("case %d %+v: user %q err %v, want user %q ok %v", i, tc.req, user, err, tc.user, tc.ok)
		}
	}
	st := a.Stats()
	if st.Allowed != 6 || st.Denied != 6 || st.DeniedAddress != 3 || st.DeniedKey != 1 || st.DeniedPassword != 2 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := NewAuthenticator(AllowAddrs("not-an-address")); err == nil {
		t.Fatal("bad network accepted")
	}
}

func TestAuthenticatorKeyDirReload(t *testing.T) {
	dir := t.TempDir()
	first, _ := GenerateKeyPair()
	if _, _, err := first.WriteFiles(dir, "first"); err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(AllowKeyDir(dir), WithAuthLogger(quietLogger))
	if err != nil {
		t.Fatal(err)
	}
	a.dirRefresh = 10 * time.Millisecond
	if user, err := a.Authenticate(AuthRequest{Mechanism: "CURVE", ClientKey: first.Public}); err != nil || user != "first" {
		t.Fatalf("first key: %q, %v", user, err)
	}
	second, _ := GenerateKeyPair()
	if _, err := a.Authenticate(AuthRequest{Mechanism: "CURVE", ClientKey: second.Public}); err == nil {
		t.Fatal("second key admitted before it was added")
	}
	if _, _, err := second.WriteFiles(dir, "second"); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "first"+PublicKeySuffix))
	// Directory mtimes can have coarse resolution: bump it for certain.
	future := time.Now().Add(time.Minute)
	os.Chtimes(dir, future, future)
	waitCond(t, 5*time.Second, "second key admitted", func() bool {
		_, err := a.Authenticate(AuthRequest{Mechanism: "CURVE", ClientKey: second.Public})
		return err == nil
	})
	if _, err := a.Authenticate(AuthRequest{Mechanism: "CURVE", ClientKey: first.Public}); err == nil {
		t.Fatal("removed key still admitted")
	}
	if _, err := NewAuthenticator(AllowKeyDir(filepath.Join(dir, "missing"))); err == nil {
		t.Fatal("missing key directory accepted")
	}
}

// TestSecuredChildNode: a CURVE node running as a child process gets
// its keys and authenticator through its configuration and serves a
// CURVE caller in this process.
func TestSecuredChildNode(t *testing.T) {
	e := newNodeEnv(t)
	c := newCluster(t, "child", "caller")
	n := e.node(modeChild, "calc", "secchild", c.curve("child"))
	e.start(n)
	caller, err := NewPeer(e.ctx, "caller", WithRegistry(e.reg), c.curve("caller"))
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	callAdd(t, e.ctx, caller, 40, 2)
	stranger, err := NewPeer(e.ctx, "stranger", WithRegistry(e.reg))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	if _, err := Call[int](ctx, stranger, "add", addReq{1, 2}); err == nil {
		t.Fatal("a NULL caller reached a CURVE child")
	}
}
