package main

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"testing"
)

// What README.md and docs/ tell users to build or write in the
// repository root is ignored by git, so that following them leaves no
// stray files to commit by mistake.
func TestDocsOutputsAreIgnored(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if err := exec.Command("git", "-C", root, "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not a git checkout")
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	// go build -o NAME PKG, go build PKG (writes the last element of PKG),
	// zmptool graph --out FILE, zmptool keygen --dir DIR.
	outputs := []*regexp.Regexp{
		regexp.MustCompile(`go build -o (\S+) `),
		regexp.MustCompile(`go build \./(?:\S+/)?(\w+)\s`),
		regexp.MustCompile(`zmptool graph --out (\S+)`),
		regexp.MustCompile(`zmptool keygen --dir (\S+)`),
	}
	seen := map[string]bool{}
	for _, doc := range append(docs, filepath.Join(root, "README.md")) {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, re := range outputs {
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				name := path.Clean(m[1])
				if seen[name] || path.IsAbs(name) || name == "." {
					continue
				}
				seen[name] = true
				if !ignored(root, name) && !ignored(root, name+"/file") { // a file, or a directory
					t.Errorf("%s tells users to write %s in the repository root, which git does not ignore (.gitignore)", filepath.Base(doc), name)
				}
			}
		}
	}
	for _, name := range []string{"zmptool", "rpc"} { // the regexps found them
		if !seen[name] {
			t.Errorf("no doc builds %s: do the patterns still match the docs?", name)
		}
	}
}

// ignored reports whether git ignores name (need not exist) in root.
func ignored(root, name string) bool {
	return exec.Command("git", "-C", root, "check-ignore", "-q", "--no-index", name).Run() == nil
}
