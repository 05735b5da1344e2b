// Command zmptool runs and inspects zmp systems. See docs/ and
// `zmptool --help`.
package main

import "os"

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
