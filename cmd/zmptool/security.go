package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gozmp/zmp/core"
	"github.com/urfave/cli/v2"
)

// securityFlags are the flags of every command that runs or reaches
// nodes: they build the node's core.Security.
func securityFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "curve-secret", Usage: "run CURVE with the key pair in this NAME.key_secret file", EnvVars: []string{"ZMP_CURVE_SECRET"}},
		&cli.StringFlag{Name: "allow-keys", Usage: "CURVE: admit (and trust as servers) the keys of the NAME.key files in this directory", EnvVars: []string{"ZMP_ALLOW_KEYS"}},
		&cli.BoolFlag{Name: "allow-any-key", Usage: "CURVE: admit every client key (encryption without client authentication)", EnvVars: []string{"ZMP_ALLOW_ANY_KEY"}},
		&cli.StringFlag{Name: "plain-user", Usage: "run PLAIN, logging in to other nodes as this user", EnvVars: []string{"ZMP_PLAIN_USER"}},
		&cli.StringFlag{Name: "plain-password", Usage: "PLAIN: the password of --plain-user", EnvVars: []string{"ZMP_PLAIN_PASSWORD"}},
		&cli.StringFlag{Name: "plain-users", Usage: "PLAIN: admit the users of this file (lines user:password)", EnvVars: []string{"ZMP_PLAIN_USERS"}},
		&cli.StringSliceFlag{Name: "allow-addr", Usage: "admit tcp peers only from these networks (CIDR or IP; repeatable)", EnvVars: []string{"ZMP_ALLOW_ADDR"}},
		&cli.StringSliceFlag{Name: "deny-addr", Usage: "refuse tcp peers from these networks (CIDR or IP; repeatable)", EnvVars: []string{"ZMP_DENY_ADDR"}},
	}
}

// securityOption turns the security flags into a WithSecurity option,
// or nil when none is set.
func securityOption(c *cli.Context) (core.Option, error) {
	sec, set, err := securitySetting(c)
	if err != nil || !set {
		return nil, err
	}
	return core.WithSecurity(sec), nil
}

// securitySetting turns the security flags into a core.Security; set
// is false when none is given (NULL, everyone admitted).
func securitySetting(c *cli.Context) (sec core.Security, set bool, err error) {
	curve, plain := c.String("curve-secret") != "", c.String("plain-user") != ""
	var opts []core.AuthOption
	if d := c.String("allow-keys"); d != "" {
		opts = append(opts, core.AllowKeyDir(d))
	}
	if c.Bool("allow-any-key") {
		opts = append(opts, core.AllowAnyKey())
	}
	if f := c.String("plain-users"); f != "" {
		users, err := readUsers(f)
		if err != nil {
			return core.Security{}, false, err
		}
		for u, p := range users {
			opts = append(opts, core.AllowUser(u, p))
		}
	}
	if a := c.StringSlice("allow-addr"); len(a) > 0 {
		opts = append(opts, core.AllowAddrs(a...))
	}
	if d := c.StringSlice("deny-addr"); len(d) > 0 {
		opts = append(opts, core.DenyAddrs(d...))
	}
	if !curve && !plain && len(opts) == 0 {
		return core.Security{}, false, nil
	}
	auth, err := core.NewAuthenticator(opts...)
	if err != nil {
		return core.Security{}, false, usageError{err}
	}
	switch {
	case curve && plain:
		return core.Security{}, false, usageError{errors.New("--curve-secret and --plain-user exclude each other")}
	case curve:
		if c.String("allow-keys") == "" && !c.Bool("allow-any-key") {
			return core.Security{}, false, usageError{errors.New("--curve-secret needs --allow-keys DIR or --allow-any-key")}
		}
		kp, err := core.LoadKeyPair(c.String("curve-secret"))
		if err != nil {
			return core.Security{}, false, err
		}
		return core.Curve(kp, auth), true, nil
	case plain:
		return core.Plain(c.String("plain-user"), c.String("plain-password"), auth), true, nil
	}
	return core.NullAuth(auth), true, nil
}

// readUsers reads "user:password" lines; blank lines and # comments
// are skipped.
func readUsers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	users := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, p, ok := strings.Cut(line, ":")
		if !ok || u == "" {
			return nil, fmt.Errorf("%s:%d: want user:password", path, n)
		}
		users[u] = p
	}
	return users, sc.Err()
}
