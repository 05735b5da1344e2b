package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Layout of a registry directory.
const (
	dirLockName    = ".lock"  // lock file serialising read-check-write
	dirEntrySuffix = ".json"  // suffix of entry files
	dirTempPattern = ".tmp-*" // temporary files, renamed into place
	dirMaxFileName = 255      // longest file name most file systems take
	dirHashLen     = 32       // hex digits of the hash in long file names
)

// Backoff bounds while waiting for the lock file.
const (
	dirLockMinDelay = 100 * time.Microsecond
	dirLockMaxDelay = 10 * time.Millisecond
)

// dirEntry is the JSON layout of one entry file. PIDStart is the start
// time of the node's process (field 22 of /proc/<pid>/stat), recorded at
// registration to tell a reused PID from the registered process.
type dirEntry struct {
	Node     NodeInfo `json:"node"`
	PIDStart uint64   `json:"pid_start"`
}

// dirRef names an entry file and the ID it held when read.
type dirRef struct {
	file, id string
}

// DirRegistry is the default, serverless Registry. It keeps one JSON
// file per node name in a directory, so that every process of the user
// on one host shares it. Registrations are serialised with a lock file.
// An entry is dead once its lease expires or, for an entry of this host
// (NodeInfo.Host equal to os.Hostname), once its process has exited.
// Create it with NewDirRegistry; it is safe for concurrent use.
type DirRegistry struct {
	dir  string
	host string           // this machine's host name, "" if unknown
	now  func() time.Time // the clock; tests replace it
}

var (
	_ Registry        = (*DirRegistry)(nil)
	_ RegistryWatcher = (*DirRegistry)(nil)
)

// dirWatchPoll is how often a watch of a registry directory reads it
// even without file events, to notice nodes whose process exited.
const dirWatchPoll = time.Second

// DefaultRegistryDir returns the directory of the default registry:
// $ZMP_RUNTIME_DIR if set, else $XDG_RUNTIME_DIR/zmp if XDG_RUNTIME_DIR
// is set, else zmp-<uid> in os.TempDir(). Empty variables count as unset.
func DefaultRegistryDir() string {
	if d := os.Getenv("ZMP_RUNTIME_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "zmp")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("zmp-%d", os.Getuid()))
}

// NewDirRegistry returns a registry kept in dir, creating dir with mode
// 0700 if it is missing.
func NewDirRegistry(dir string) (*DirRegistry, error) {
	if dir == "" {
		return nil, errors.New("core: registry dir: empty path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("core: registry dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("core: registry dir: %w", err)
	}
	host, _ := os.Hostname()
	return &DirRegistry{dir: abs, host: host, now: time.Now}, nil
}

// Dir returns the registry's directory as an absolute path.
func (r *DirRegistry) Dir() string { return r.dir }

// Register records info for ttl; see Registry. It stores the entry in
// <dir>/<escaped name>.json, replacing the file atomically.
func (r *DirRegistry) Register(ctx context.Context, info NodeInfo, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	file, err := dirFileName(info.Name)
	if err != nil {
		return err
	}
	if info.ID == "" {
		return fmt.Errorf("core: register %q: empty id", info.Name)
	}
	if ttl <= 0 {
		return fmt.Errorf("core: register %q: ttl %v is not positive", info.Name, ttl)
	}
	e := dirEntry{Node: info}
	if r.local(info) {
		e.PIDStart = dirPIDStart(info.PID)
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return r.registerLocked(file, e, ttl)
}

// registerLocked checks name ownership and writes e. The lock is held.
func (r *DirRegistry) registerLocked(file string, e dirEntry, ttl time.Duration) error {
	now := r.now()
	old, ok, err := r.readEntry(file)
	if err != nil {
		return err
	}
	if ok && old.Node.ID != e.Node.ID && r.alive(old, now) {
		n := old.Node
		return fmt.Errorf("%w: %q is held by id %s (pid %d on %q)", ErrNameTaken, n.Name, n.ID, n.PID, n.Host)
	}
	e.Node.Expires = now.Add(ttl).Round(0)
	return r.writeEntry(file, e)
}

// Deregister removes the entry of name if it belongs to id; see Registry.
func (r *DirRegistry) Deregister(ctx context.Context, name, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	file, err := dirFileName(name)
	if err != nil {
		return err
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	e, ok, err := r.readEntry(file)
	if err != nil || !ok || e.Node.ID != id {
		return err
	}
	return r.remove(file)
}

// Nodes returns every live entry, sorted by name; see Registry. Files
// that cannot be read or parsed are skipped. Dead entries are removed
// when the lock is free.
func (r *DirRegistry) Nodes(ctx context.Context) ([]NodeInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	files, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("core: registry nodes: %w", err)
	}
	live, dead, err := r.scan(ctx, files)
	if err != nil {
		return nil, err
	}
	r.sweep(dead)
	slices.SortFunc(live, func(a, b NodeInfo) int { return strings.Compare(a.Name, b.Name) })
	return live, nil
}

// scan reads the entry files among files and splits them into live
// entries and references to dead ones.
func (r *DirRegistry) scan(ctx context.Context, files []fs.DirEntry) ([]NodeInfo, []dirRef, error) {
	now := r.now()
	var live []NodeInfo
	var dead []dirRef
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		e, ok := r.readListed(f)
		switch {
		case !ok:
		case r.alive(e, now):
			live = append(live, e.Node)
		default:
			dead = append(dead, dirRef{file: f.Name(), id: e.Node.ID})
		}
	}
	return live, dead, nil
}

// readListed reads a directory entry if it is a valid entry file stored
// under the file name of the node name it holds.
func (r *DirRegistry) readListed(f fs.DirEntry) (dirEntry, bool) {
	if !f.Type().IsRegular() || !strings.HasSuffix(f.Name(), dirEntrySuffix) {
		return dirEntry{}, false
	}
	e, ok, err := r.readEntry(f.Name())
	if err != nil || !ok {
		return dirEntry{}, false
	}
	want, err := dirFileName(e.Node.Name)
	return e, err == nil && want == f.Name()
}

// sweep removes the dead entries if they are still dead and of the same
// ID. It is best effort: it gives up at once if the lock is taken.
func (r *DirRegistry) sweep(dead []dirRef) {
	if len(dead) == 0 {
		return
	}
	unlock, ok, err := dirTryLock(r.lockPath())
	if err != nil || !ok {
		return
	}
	defer unlock()
	now := r.now()
	for _, d := range dead {
		e, ok, err := r.readEntry(d.file)
		if err == nil && ok && e.Node.ID == d.id && !r.alive(e, now) {
			_ = r.remove(d.file)
		}
	}
}

// alive reports whether e is live at now: its lease has not expired
// and, if it is an entry of this host, its process still runs.
func (r *DirRegistry) alive(e dirEntry, now time.Time) bool {
	if !now.Before(e.Node.Expires) {
		return false
	}
	return !r.local(e.Node) || dirPIDAlive(e.Node.PID, e.PIDStart)
}

// local reports whether n runs on this host.
func (r *DirRegistry) local(n NodeInfo) bool { return r.host != "" && n.Host == r.host }

// lockPath returns the path of the lock file.
func (r *DirRegistry) lockPath() string { return filepath.Join(r.dir, dirLockName) }

// lock takes the registry's lock file, waiting until it is free or ctx
// is done. It recreates the directory if it was removed.
func (r *DirRegistry) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("core: registry lock: %w", err)
	}
	delay := dirLockMinDelay
	for {
		unlock, ok, err := dirTryLock(r.lockPath())
		if err != nil || ok {
			return unlock, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("core: registry lock: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, dirLockMaxDelay)
	}
}

// readEntry reads and parses an entry file. ok is false if the file is
// absent or unparsable; err reports other I/O errors.
func (r *DirRegistry) readEntry(file string) (e dirEntry, ok bool, err error) {
	data, err := os.ReadFile(filepath.Join(r.dir, file))
	if errors.Is(err, fs.ErrNotExist) {
		return dirEntry{}, false, nil
	}
	if err != nil {
		return dirEntry{}, false, fmt.Errorf("core: registry read: %w", err)
	}
	if json.Unmarshal(data, &e) != nil {
		return dirEntry{}, false, nil
	}
	return e, true, nil
}

// writeEntry writes e to file atomically: to a temporary file in the
// same directory, then renamed into place.
func (r *DirRegistry) writeEntry(file string, e dirEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("core: registry write: %w", err)
	}
	tmp, err := os.CreateTemp(r.dir, dirTempPattern)
	if err != nil {
		return fmt.Errorf("core: registry write: %w", err)
	}
	_, err = tmp.Write(data)
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(r.dir, file))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("core: registry write: %w", err)
	}
	return nil
}

// remove deletes an entry file; an absent file is not an error.
func (r *DirRegistry) remove(file string) error {
	err := os.Remove(filepath.Join(r.dir, file))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("core: registry remove: %w", err)
	}
	return nil
}

// dirFileName returns the entry file name of a node name: bytes in
// [A-Za-z0-9._-] are kept, others become %XX, and ".json" is appended.
// Names too long for a file name are cut and suffixed with "~" and a
// hash of the full name; "~" never appears in an escaped name.
func dirFileName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty node name", ErrBadName)
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return "", fmt.Errorf("%w: node name %q has control characters", ErrBadName, name)
	}
	var b strings.Builder
	for i := range len(name) {
		if c := name[i]; dirSafeByte(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	base := b.String()
	if len(base)+len(dirEntrySuffix) > dirMaxFileName {
		sum := sha256.Sum256([]byte(name))
		keep := dirMaxFileName - len(dirEntrySuffix) - 1 - dirHashLen
		base = base[:keep] + "~" + hex.EncodeToString(sum[:])[:dirHashLen]
	}
	return base + dirEntrySuffix, nil
}

// dirSafeByte reports whether c is kept as is in entry file names.
func dirSafeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// dirParseStat parses the contents of /proc/<pid>/stat, returning the
// process state (field 3) and start time (field 22). The command name
// (field 2) is in parentheses and may itself hold spaces and ')', so the
// fields are counted from the last ')'.
func dirParseStat(b []byte) (state byte, start uint64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, false
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], start, true
}
