package core

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// AuthRequest is what a server knows of a connecting peer when its
// Authenticator decides whether to let it in.
type AuthRequest struct {
	// Mechanism is "NULL", "PLAIN" or "CURVE".
	Mechanism string
	// Address is the peer's address: host:port for tcp, empty or a
	// socket path for ipc.
	Address string
	// Username and Password are set for PLAIN.
	Username, Password string
	// ClientKey is set for CURVE: the client's long-term public key,
	// which it has proven to hold the secret of.
	ClientKey Key
}

// AuthStats counts an Authenticator's decisions.
type AuthStats struct {
	Allowed uint64 `json:"allowed"`
	Denied  uint64 `json:"denied"`
	// DeniedAddress, DeniedKey and DeniedPassword split Denied by the
	// rule that refused the peer.
	DeniedAddress  uint64 `json:"denied_address"`
	DeniedKey      uint64 `json:"denied_key"`
	DeniedPassword uint64 `json:"denied_password"`
}

// Authenticator is the one place where a server decides who gets in,
// the role ZAP (RFC 27) plays in libzmq. It checks, in order:
//
//  1. the peer's address, for tcp peers: a denied network refuses it;
//     when allowed networks are set, only they pass (ipc peers are
//     local and pass: their socket file's permissions guard them);
//  2. for CURVE, the client's public key: it must be allowed by
//     AllowKeys or AllowKeyDir, unless AllowAnyKey was given;
//  3. for PLAIN, the username and password (AllowUser).
//
// Every decision is counted (Stats) and logged: refusals at Info,
// admissions at Debug. A refused peer gets an ERROR and is
// disconnected; none of its messages reach the application. An
// Authenticator is safe for concurrent use.
//
// On the client side, a CURVE node also uses its Authenticator to
// decide which servers to trust: it dials only providers whose public
// key the same rules allow.
type Authenticator struct {
	keys       map[Key]string // allowed key -> name
	keyDir     string
	anyKey     bool
	users      map[string]string
	allowNets  []netip.Prefix
	denyNets   []netip.Prefix
	logger     *slog.Logger
	dirRefresh time.Duration

	mu        sync.Mutex
	dirKeys   map[Key]string
	dirLoaded time.Time // when dirKeys was read
	dirMod    time.Time // the directory's mtime then

	allowed, deniedAddr, deniedKey, deniedPass atomic.Uint64
}

// AuthOption configures an Authenticator.
type AuthOption func(*Authenticator) error

// AllowKeys admits CURVE clients holding one of keys.
func AllowKeys(keys ...Key) AuthOption {
	return func(a *Authenticator) error {
		for _, k := range keys {
			if k.IsZero() {
				return errors.New("core: AllowKeys: zero key")
			}
			a.keys[k] = k.String()
		}
		return nil
	}
}

// AllowKeyDir admits CURVE clients whose public key is in a NAME.key
// file of dir (a certificate store, as CZMQ and pyzmq keep one); NAME
// becomes the peer's user id. The directory is read again when its
// modification time changes, checked at most once a second, so keys
// can be added and removed while nodes run.
func AllowKeyDir(dir string) AuthOption {
	return func(a *Authenticator) error {
		if _, err := LoadPublicKeys(dir); err != nil {
			return err
		}
		a.keyDir = dir
		return nil
	}
}

// AllowAnyKey admits every CURVE client that completes the handshake:
// traffic is encrypted and the server authenticated, but clients are
// not. Address rules still apply.
func AllowAnyKey() AuthOption {
	return func(a *Authenticator) error { a.anyKey = true; return nil }
}

// AllowUser admits PLAIN clients that present name and password.
func AllowUser(name, password string) AuthOption {
	return func(a *Authenticator) error {
		if name == "" || len(name) > 255 || len(password) > 255 {
			return fmt.Errorf("core: AllowUser: name must be 1 to 255 bytes and password at most 255")
		}
		a.users[name] = password
		return nil
	}
}

// AllowAddrs admits tcp peers only from these networks (CIDR, or a
// single IP address).
func AllowAddrs(networks ...string) AuthOption {
	return func(a *Authenticator) (err error) {
		a.allowNets, err = appendPrefixes(a.allowNets, networks)
		return err
	}
}

// DenyAddrs refuses tcp peers from these networks (CIDR or IP); a deny
// wins over an allow.
func DenyAddrs(networks ...string) AuthOption {
	return func(a *Authenticator) (err error) {
		a.denyNets, err = appendPrefixes(a.denyNets, networks)
		return err
	}
}

// WithAuthLogger sets where decisions are logged; default slog.Default().
func WithAuthLogger(l *slog.Logger) AuthOption {
	return func(a *Authenticator) error {
		if l == nil {
			return errors.New("core: WithAuthLogger: nil logger")
		}
		a.logger = l
		return nil
	}
}

func appendPrefixes(dst []netip.Prefix, networks []string) ([]netip.Prefix, error) {
	for _, n := range networks {
		p, err := netip.ParsePrefix(n)
		if err != nil {
			addr, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return nil, fmt.Errorf("core: %q is neither a CIDR network nor an IP address", n)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		dst = append(dst, p.Masked())
	}
	return dst, nil
}

// NewAuthenticator builds an Authenticator. With no option it admits
// nobody over CURVE or PLAIN, and every NULL peer.
func NewAuthenticator(opts ...AuthOption) (*Authenticator, error) {
	a := &Authenticator{keys: map[Key]string{}, users: map[string]string{}, logger: slog.Default(), dirRefresh: time.Second}
	for _, o := range opts {
		if err := o(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Stats returns the decisions made so far.
func (a *Authenticator) Stats() AuthStats {
	st := AuthStats{Allowed: a.allowed.Load(), DeniedAddress: a.deniedAddr.Load(), DeniedKey: a.deniedKey.Load(), DeniedPassword: a.deniedPass.Load()}
	st.Denied = st.DeniedAddress + st.DeniedKey + st.DeniedPassword
	return st
}

// Authenticate decides on one peer: it returns the user id to attach
// to its connection (a key's file name, the PLAIN username, or empty),
// or an error saying why it is refused.
func (a *Authenticator) Authenticate(r AuthRequest) (string, error) {
	user, counter, err := a.decide(r)
	if err != nil {
		counter.Add(1)
		a.logger.Info("zmp: peer refused", "mechanism", r.Mechanism, "address", r.Address, "reason", err)
		return "", err
	}
	a.allowed.Add(1)
	a.logger.Debug("zmp: peer admitted", "mechanism", r.Mechanism, "address", r.Address, "user", user)
	return user, nil
}

func (a *Authenticator) decide(r AuthRequest) (string, *atomic.Uint64, error) {
	if err := a.checkAddress(r.Address); err != nil {
		return "", &a.deniedAddr, err
	}
	switch r.Mechanism {
	case "CURVE":
		name, ok := a.keyName(r.ClientKey)
		if !ok {
			return "", &a.deniedKey, fmt.Errorf("client key %s is not allowed", r.ClientKey)
		}
		return name, nil, nil
	case "PLAIN":
		want, ok := a.users[r.Username]
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(r.Password)) != 1 {
			return "", &a.deniedPass, fmt.Errorf("bad username or password for %q", r.Username)
		}
		return r.Username, nil, nil
	}
	return "", nil, nil
}

func (a *Authenticator) checkAddress(address string) error {
	if len(a.allowNets) == 0 && len(a.denyNets) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil // ipc: not an IP peer
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("unparsable peer address %q", address)
	}
	ip = ip.Unmap()
	for _, p := range a.denyNets {
		if p.Contains(ip) {
			return fmt.Errorf("address %s is denied", ip)
		}
	}
	if len(a.allowNets) == 0 {
		return nil
	}
	for _, p := range a.allowNets {
		if p.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("address %s is not allowed", ip)
}

// keyName reports whether k is allowed, and under which name.
func (a *Authenticator) keyName(k Key) (string, bool) {
	if name, ok := a.keys[k]; ok {
		return name, true
	}
	if a.keyDir != "" {
		if name, ok := a.dirKey(k); ok {
			return name, true
		}
	}
	return "", a.anyKey
}

// TrustsServer reports whether a CURVE client using a should connect
// to a server with public key k: the same key rules as for clients.
func (a *Authenticator) TrustsServer(k Key) bool {
	_, ok := a.keyName(k)
	return ok
}

func (a *Authenticator) dirKey(k Key) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if time.Since(a.dirLoaded) >= a.dirRefresh {
		a.reloadDirLocked()
	}
	name, ok := a.dirKeys[k]
	return name, ok
}

func (a *Authenticator) reloadDirLocked() {
	a.dirLoaded = time.Now()
	fi, err := os.Stat(a.keyDir)
	if err != nil {
		a.logger.Warn("zmp: key directory unreadable; keeping the keys read before", "dir", a.keyDir, "err", err)
		return
	}
	if a.dirKeys != nil && fi.ModTime().Equal(a.dirMod) {
		return
	}
	byName, err := LoadPublicKeys(a.keyDir)
	if err != nil {
		a.logger.Warn("zmp: key directory unreadable; keeping the keys read before", "dir", a.keyDir, "err", err)
		return
	}
	keys := make(map[Key]string, len(byName))
	for name, k := range byName {
		keys[k] = name
	}
	a.dirKeys, a.dirMod = keys, fi.ModTime()
}
