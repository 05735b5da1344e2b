package core

import (
	"fmt"
	"net/netip"
)

// securitySpec carries a Security to a child process, in its
// environment (readable only by the same user and root, as the child's
// /proc/PID/environ is).
type securitySpec struct {
	Mechanism string            `json:"mechanism"`
	Public    string            `json:"public,omitempty"`
	Secret    string            `json:"secret,omitempty"`
	User      string            `json:"user,omitempty"`
	Password  string            `json:"password,omitempty"`
	Keys      []string          `json:"keys,omitempty"`
	KeyDir    string            `json:"key_dir,omitempty"`
	AnyKey    bool              `json:"any_key,omitempty"`
	Users     map[string]string `json:"users,omitempty"`
	Allow     []string          `json:"allow,omitempty"`
	Deny      []string          `json:"deny,omitempty"`
}

func newSecuritySpec(s Security) *securitySpec {
	if s.mechanism == "" {
		return nil
	}
	spec := &securitySpec{Mechanism: s.mechanism, User: s.user, Password: s.password}
	if !s.keys.Secret.IsZero() {
		spec.Public, spec.Secret = s.keys.Public.String(), s.keys.Secret.String()
	}
	if a := s.auth; a != nil {
		for k := range a.keys {
			spec.Keys = append(spec.Keys, k.String())
		}
		spec.KeyDir, spec.AnyKey, spec.Users = a.keyDir, a.anyKey, a.users
		spec.Allow, spec.Deny = prefixStrings(a.allowNets), prefixStrings(a.denyNets)
	}
	return spec
}

func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// option rebuilds the Security in the child.
func (spec *securitySpec) option() (Option, error) {
	var authOpts []AuthOption
	for _, z := range spec.Keys {
		k, err := ParseKey(z)
		if err != nil {
			return nil, err
		}
		authOpts = append(authOpts, AllowKeys(k))
	}
	if spec.KeyDir != "" {
		authOpts = append(authOpts, AllowKeyDir(spec.KeyDir))
	}
	if spec.AnyKey {
		authOpts = append(authOpts, AllowAnyKey())
	}
	for u, p := range spec.Users {
		authOpts = append(authOpts, AllowUser(u, p))
	}
	authOpts = append(authOpts, AllowAddrs(spec.Allow...), DenyAddrs(spec.Deny...))
	auth, err := NewAuthenticator(authOpts...)
	if err != nil {
		return nil, err
	}
	s := Security{mechanism: spec.Mechanism, user: spec.User, password: spec.Password, auth: auth}
	if spec.Secret != "" {
		secret, err := ParseKey(spec.Secret)
		if err != nil {
			return nil, err
		}
		if s.keys, err = KeyPairFromSecret(secret); err != nil {
			return nil, err
		}
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("core: security handed to the child: %w", err)
	}
	return WithSecurity(s), nil
}
