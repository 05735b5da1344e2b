package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gozmp/zmp/bench/harness"
)

// The markers around the generated results in docs/performance.md.
// WriteDocs rewrites what lies between them and nothing else.
const (
	DocsBegin = "<!-- zmpbench:results begin: written by `make bench-compare` (zmpbench compare --docs); edits here are lost -->"
	DocsEnd   = "<!-- zmpbench:results end -->"
)

// CommitKey is the key of Machine.Versions under which a run records
// the zmp commit it measured (with "-dirty" for uncommitted changes).
const CommitKey = "zmp"

// WriteDocs rewrites the results section of the Markdown page at path
// (between DocsBegin and DocsEnd) from run, and writes the chart next to
// the page, with the page's name and .svg. It returns the paths
// written. A page without both markers, in order and once each, is left
// as it is, and so is its chart.
func WriteDocs(path string, run *harness.Run) ([]string, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	svgPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".svg"
	var section bytes.Buffer
	DocsSection(&section, run, filepath.Base(svgPath))
	out, err := ReplaceResults(doc, section.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var svg bytes.Buffer
	SVG(&svg, run)
	if err := os.WriteFile(svgPath, svg.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return []string{svgPath}, err
	}
	return []string{path, svgPath}, nil
}

// ReplaceResults returns doc with what lies between the end of the
// DocsBegin line and the start of the DocsEnd line replaced by section.
// Everything else, the marker lines included, is kept byte for byte.
func ReplaceResults(doc, section []byte) ([]byte, error) {
	begin, end := markerLine(doc, DocsBegin), markerLine(doc, DocsEnd)
	switch {
	case len(begin) == 0 || len(end) == 0:
		return nil, errors.New("no results markers (" + DocsBegin + " and " + DocsEnd + ", each on a line of its own)")
	case len(begin) > 1 || len(end) > 1:
		return nil, errors.New("the results markers appear more than once")
	case end[0] < begin[0]:
		return nil, errors.New("the results end marker comes before the begin marker")
	}
	from := begin[0] + bytes.IndexByte(doc[begin[0]:], '\n') + 1 // the end comes after: there is a newline
	out := make([]byte, 0, len(doc)+len(section))
	out = append(out, doc[:from]...)
	out = append(out, section...)
	if len(section) > 0 && section[len(section)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, doc[end[0]:]...), nil
}

// markerLine returns the offsets of the lines of doc that consist of
// marker alone (trailing spaces and a CR allowed).
func markerLine(doc []byte, marker string) []int {
	var at []int
	for off := 0; off < len(doc); {
		line := doc[off:]
		n := bytes.IndexByte(line, '\n')
		if n >= 0 {
			line = line[:n]
		}
		if string(bytes.TrimRight(line, " \t\r")) == marker {
			at = append(at, off)
		}
		if n < 0 {
			break
		}
		off += n + 1
	}
	return at
}

// DocsSection writes the generated part of the docs page: what was run
// where and when, the chart (svgName, relative to the page), then
// compare.md without its title and with its headings one level down, so
// that they sit under the page's own section.
func DocsSection(w io.Writer, run *harness.Run, svgName string) {
	commit := run.Machine.Versions[CommitKey]
	if commit == "" {
		commit = "an unrecorded commit"
	}
	fmt.Fprintf(w, "\nMeasured at commit %s, started %s, in %.0f s.\n\n![zmp compared with %s](%s)\n\n",
		commit, run.Started.UTC().Format("2006-01-02 15:04 MST"), run.Seconds, strings.Join(others(run.Systems), ", "), svgName)
	var md bytes.Buffer
	Markdown(&md, run)
	sc := bufio.NewScanner(&md)
	sc.Buffer(nil, 1<<20)
	title := true
	for sc.Scan() {
		line := sc.Text()
		if title { // "# zmp comparison" and the blank line after it
			if strings.HasPrefix(line, "# ") || line == "" {
				continue
			}
			title = false
		}
		if strings.HasPrefix(line, "#") {
			line = "#" + line
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
}

// others lists the systems other than zmp, for the chart's alt text.
func others(systems []string) []string {
	var out []string
	for _, s := range systems {
		if s != refSystem {
			out = append(out, s)
		}
	}
	return out
}
