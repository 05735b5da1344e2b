//go:build !unix

package core

// checkPrivateDir has no ownership to check on this platform.
func checkPrivateDir(string) error { return nil }
