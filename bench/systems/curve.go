package systems

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// serverKeyFile is the file, in a measurement's Dir, where the server
// side of a CURVE variant leaves its public key (Z85) for the client
// side: the key pair is made per measurement, in the server process.
const serverKeyFile = "server.curve"

// writeServerKey writes the server's public key, in Z85, to dir.
func writeServerKey(dir, z85 string) error {
	if dir == "" {
		return errors.New("curve: no measurement directory for the server key")
	}
	return os.WriteFile(filepath.Join(dir, serverKeyFile), []byte(z85+"\n"), 0o644)
}

// readServerKey reads the public key the server wrote to dir.
func readServerKey(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, serverKeyFile))
	if err != nil {
		return "", fmt.Errorf("curve: the server's public key: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if len(key) != 40 {
		return "", fmt.Errorf("curve: %s holds %d characters, not a Z85 key", serverKeyFile, len(key))
	}
	return key, nil
}
