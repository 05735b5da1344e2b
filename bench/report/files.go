package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/gozmp/zmp/bench/harness"
)

// Names of the files WriteFiles writes.
const (
	FileMarkdown = "compare.md"
	FileSVG      = "compare.svg"
	FileJSON     = "compare.json"
)

// WriteFiles writes compare.md, compare.svg and compare.json into dir,
// creating it, and returns the paths written.
func WriteFiles(dir string, run *harness.Run) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var md, svg bytes.Buffer
	Markdown(&md, run)
	SVG(&svg, run)
	js, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return nil, err
	}
	var written []string
	var errs []error
	files := []struct {
		name string
		data []byte
	}{{FileMarkdown, md.Bytes()}, {FileSVG, svg.Bytes()}, {FileJSON, append(js, '\n')}}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			errs = append(errs, err)
			continue
		}
		written = append(written, p)
	}
	return written, errors.Join(errs...)
}
