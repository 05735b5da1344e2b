package main

import "runtime/debug"

// version is zmptool's version: the main module's version as the go
// command recorded it (a tag, or a pseudo-version when built from a
// git checkout), or "devel" when there is none (go run, go test, a
// build without VCS information).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return versionOf(nil)
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	if bi == nil || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return "devel"
	}
	return bi.Main.Version
}
