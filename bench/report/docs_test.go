package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Rewriting keeps everything outside the markers byte for byte, marker
// lines included, whatever the line endings; rewriting again with the
// same section changes nothing.
func TestReplaceResultsKeepsTheRest(t *testing.T) {
	before := "# Page\r\n\r\nhand-written  \ttext\n\n## Results\n"
	after := "\nmore prose, no final newline"
	for _, c := range []struct {
		name, doc, want string
	}{
		{"lf", before + DocsBegin + "\nold\ntables\n" + DocsEnd + after, before + DocsBegin + "\nNEW\n" + DocsEnd + after},
		{"crlf", before + DocsBegin + "\r\nold\r\n" + DocsEnd + "\r\n" + after, before + DocsBegin + "\r\nNEW\n" + DocsEnd + "\r\n" + after},
		{"empty between", before + DocsBegin + "\n" + DocsEnd + "\n", before + DocsBegin + "\nNEW\n" + DocsEnd + "\n"},
		{"marker with trailing space", DocsBegin + "  \nold\n" + DocsEnd, DocsBegin + "  \nNEW\n" + DocsEnd},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReplaceResults([]byte(c.doc), []byte("NEW"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
			again, err := ReplaceResults(got, []byte("NEW\n"))
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("not idempotent: %q, %v", again, err)
			}
		})
	}
}

func TestReplaceResultsNeedsMarkers(t *testing.T) {
	for name, doc := range map[string]string{
		"none":             "# Page\n\ntext\n",
		"no end":           DocsBegin + "\ntext\n",
		"no begin":         "text\n" + DocsEnd + "\n",
		"reversed":         DocsEnd + "\ntext\n" + DocsBegin + "\n",
		"twice":            DocsBegin + "\na\n" + DocsEnd + "\n" + DocsBegin + "\nb\n" + DocsEnd + "\n",
		"inside a line":    "see " + DocsBegin + " here\n" + DocsEnd + "\n",
		"end inside text":  DocsBegin + "\n`" + DocsEnd + "`\n",
		"begin, cut short": DocsBegin[:20] + "\n" + DocsEnd + "\n",
	} {
		if _, err := ReplaceResults([]byte(doc), []byte("NEW\n")); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// WriteDocs rewrites the section between the markers with the run's
// header and tables (headings one level down, no title) and writes the
// chart next to the page; the rest of the page is kept.
func TestWriteDocs(t *testing.T) {
	run := fakeRun()
	run.Machine.Versions = map[string]string{CommitKey: "abc1234-dirty"}
	run.Started = time.Date(2026, 12, 2, 10, 5, 0, 0, time.UTC)
	dir := t.TempDir()
	page := filepath.Join(dir, "performance.md")
	head, tail := "# Performance\n\n## Results of a full run\n\nprose\n", "\n## What the numbers mean\n\nmore prose\n"
	if err := os.WriteFile(page, []byte(head+DocsBegin+"\nold tables\n"+DocsEnd+tail), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := WriteDocs(page, run)
	if err != nil {
		t.Fatal(err)
	}
	svgPath := filepath.Join(dir, "performance.svg")
	if len(files) != 2 || files[0] != page || files[1] != svgPath {
		t.Errorf("wrote %v", files)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	if !strings.HasPrefix(doc, head+DocsBegin+"\n") || !strings.HasSuffix(doc, "\n"+DocsEnd+tail) {
		t.Errorf("the page outside the markers changed:\n%s", doc)
	}
	section := doc[len(head+DocsBegin) : len(doc)-len(DocsEnd+tail)]
	for _, want := range []string{"Measured at commit abc1234-dirty, started 2026-12-02 10:05 UTC", "![zmp compared with tcp, libzmq, nats](performance.svg)",
		"| round trip p50, µs | tcp |", "### Targets (issue 15)", "### CURVE ÷ NULL cost", "### Peak RSS", "Versions: zmp abc1234-dirty"} {
		if !strings.Contains(section, want) {
			t.Errorf("the section lacks %q:\n%s", want, section)
		}
	}
	for _, bad := range []string{"old tables", "# zmp comparison", "\n## "} {
		if strings.Contains(section, bad) {
			t.Errorf("the section holds %q:\n%s", bad, section)
		}
	}
	checkSVG(t, svgPath)
}

// A page without markers is an error, and neither it nor a chart is
// written.
func TestWriteDocsWithoutMarkers(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.md")
	if err := os.WriteFile(page, []byte("# Page\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDocs(page, fakeRun()); err == nil {
		t.Error("no error")
	}
	if b, _ := os.ReadFile(page); string(b) != "# Page\n" {
		t.Errorf("page rewritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "page.svg")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a chart was written: %v", err)
	}
}

// docs/performance.md holds the markers, once each, so that
// `make bench-compare` can rewrite its results.
func TestPerformancePageHasMarkers(t *testing.T) {
	page := filepath.Join("..", "..", "docs", "performance.md")
	doc, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ReplaceResults(doc, []byte("NEW\n"))
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(DocsBegin)), bytes.Index(doc, []byte(DocsEnd))
	if !bytes.HasPrefix(out, doc[:i+len(DocsBegin)+1]) || !bytes.HasSuffix(out, doc[j:]) {
		t.Error("rewriting changes the page outside the markers")
	}
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: not well-formed: %v", path, err)
		}
	}
}
