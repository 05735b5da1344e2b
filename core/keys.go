package core

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
	"golang.org/x/crypto/curve25519"
)

// Key is a CURVE (Curve25519) public or secret key. Its text form is
// Z85, the 40 characters libzmq, CZMQ and pyzmq use.
type Key [32]byte

// String returns the key in Z85.
func (k Key) String() string { return zmtp.Key(k).String() }

// IsZero reports whether the key is unset.
func (k Key) IsZero() bool { return k == Key{} }

// ParseKey decodes a 40-character Z85 key.
func ParseKey(z85 string) (Key, error) {
	k, err := zmtp.ParseKey(z85)
	if err != nil {
		return Key{}, fmt.Errorf("core: bad key: %w", err)
	}
	return Key(k), nil
}

// KeyPair is a node's long-term CURVE identity.
type KeyPair struct {
	Public, Secret Key
}

// GenerateKeyPair makes a new key pair from crypto/rand.
func GenerateKeyPair() (KeyPair, error) {
	var kp KeyPair
	if _, err := rand.Read(kp.Secret[:]); err != nil {
		return KeyPair{}, err
	}
	pub, err := curve25519.X25519(kp.Secret[:], curve25519.Basepoint)
	if err != nil {
		return KeyPair{}, err
	}
	copy(kp.Public[:], pub)
	return kp, nil
}

// KeyPairFromSecret derives the public key of secret.
func KeyPairFromSecret(secret Key) (KeyPair, error) {
	pub, err := curve25519.X25519(secret[:], curve25519.Basepoint)
	if err != nil {
		return KeyPair{}, fmt.Errorf("core: bad secret key: %w", err)
	}
	kp := KeyPair{Secret: secret}
	copy(kp.Public[:], pub)
	return kp, nil
}

// Key files use CZMQ's certificate format (ZPL), which pyzmq's
// zmq.auth.load_certificate also reads: NAME.key holds the public key,
// NAME.key_secret both keys and is written with mode 0600.
const (
	PublicKeySuffix = ".key"
	SecretKeySuffix = ".key_secret"
)

// WriteFiles writes dir/name.key and dir/name.key_secret (mode 0600)
// and returns their paths. It refuses to overwrite existing files.
func (kp KeyPair) WriteFiles(dir, name string) (public, secret string, err error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return "", "", fmt.Errorf("core: bad key file name %q", name)
	}
	public = filepath.Join(dir, name+PublicKeySuffix)
	secret = filepath.Join(dir, name+SecretKeySuffix)
	stamp := time.Now().UTC().Format("2006-01-02 15:04:05")
	pubText := fmt.Sprintf("#   zmp CURVE public key, made %s UTC\n#   Share it with the nodes that must let this one in.\n\nmetadata\ncurve\n    public-key = %q\n", stamp, kp.Public)
	secText := fmt.Sprintf("#   zmp CURVE secret key, made %s UTC\n#   Keep it private: whoever reads it can act as this node.\n\nmetadata\ncurve\n    public-key = %q\n    secret-key = %q\n", stamp, kp.Public, kp.Secret)
	if err := writeNew(secret, secText, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(public, pubText, 0o644); err != nil {
		os.Remove(secret)
		return "", "", err
	}
	return public, secret, nil
}

func writeNew(path, text string, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("core: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("core: %w", err)
	}
	return f.Close()
}

// LoadKeyPair reads a secret key file (NAME.key_secret, as written by
// WriteFiles, zmptool keygen, CZMQ or pyzmq) and checks that its public
// key matches its secret key.
func LoadKeyPair(path string) (KeyPair, error) {
	pub, sec, err := readCertificate(path)
	if err != nil {
		return KeyPair{}, err
	}
	if sec == "" {
		return KeyPair{}, fmt.Errorf("core: %s has no secret-key", path)
	}
	secret, err := ParseKey(sec)
	if err != nil {
		return KeyPair{}, fmt.Errorf("core: %s: %w", path, err)
	}
	kp, err := KeyPairFromSecret(secret)
	if err != nil {
		return KeyPair{}, err
	}
	if pub != "" && pub != kp.Public.String() {
		return KeyPair{}, fmt.Errorf("core: %s: public-key does not belong to secret-key", path)
	}
	return kp, nil
}

// LoadPublicKey reads the public key from a certificate file (either
// NAME.key or NAME.key_secret).
func LoadPublicKey(path string) (Key, error) {
	pub, _, err := readCertificate(path)
	if err != nil {
		return Key{}, err
	}
	if pub == "" {
		kp, err := LoadKeyPair(path)
		return kp.Public, err
	}
	k, err := ParseKey(pub)
	if err != nil {
		return Key{}, fmt.Errorf("core: %s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKeys reads every NAME.key file of dir, a certificate store
// as CZMQ and pyzmq keep one, and returns the keys by file name
// without the suffix.
func LoadPublicKeys(dir string) (map[string]Key, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("core: %w", err)
	}
	keys := map[string]Key{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), PublicKeySuffix) {
			continue
		}
		k, err := LoadPublicKey(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		keys[strings.TrimSuffix(e.Name(), PublicKeySuffix)] = k
	}
	return keys, nil
}

// maxCertificate bounds what readCertificate reads.
const maxCertificate = 64 << 10

// readCertificate extracts public-key and secret-key from a ZPL file.
func readCertificate(path string) (public, secret string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("core: %w", err)
	}
	if len(b) > maxCertificate {
		return "", "", fmt.Errorf("core: %s is not a key file (%d bytes)", path, len(b))
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		name, value, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"'`)
		switch strings.TrimSpace(name) {
		case "public-key":
			public = value
		case "secret-key":
			secret = value
		}
	}
	if public == "" && secret == "" {
		return "", "", errors.New("core: " + path + " holds no CURVE key")
	}
	return public, secret, nil
}
