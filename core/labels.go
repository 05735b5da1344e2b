package core

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of node labels (WithLabels).
const (
	// MaxLabels is how many labels one node may carry.
	MaxLabels = 64
	// MaxLabelKey is the longest label key, in bytes.
	MaxLabelKey = 63
	// MaxLabelValue is the longest label value, in bytes.
	MaxLabelValue = 255
)

// ErrBadLabel is returned for labels that break the rules of
// CheckLabels.
var ErrBadLabel = errors.New("core: bad label")

// CheckLabels reports whether labels may be given to WithLabels and
// used as a selector:
//   - at most MaxLabels labels;
//   - each key is 1 to MaxLabelKey bytes of [a-z0-9._/-] and begins
//     with a lower-case letter or a digit ("zone", "app.kubernetes.io/tier");
//   - each value is at most MaxLabelValue bytes of valid UTF-8 without
//     control characters; it may be empty.
//
// The error wraps ErrBadLabel and names the offending label.
func CheckLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return fmt.Errorf("%w: %d labels, at most %d", ErrBadLabel, len(labels), MaxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if err := checkLabelKey(k); err != nil {
			return err
		}
		if err := checkLabelValue(k, labels[k]); err != nil {
			return err
		}
	}
	return nil
}

func checkLabelKey(k string) error {
	if k == "" || len(k) > MaxLabelKey {
		return fmt.Errorf("%w: key %q must be 1 to %d bytes", ErrBadLabel, k, MaxLabelKey)
	}
	if !labelKeyStart(k[0]) {
		return fmt.Errorf("%w: key %q must begin with a-z or 0-9", ErrBadLabel, k)
	}
	for i := range len(k) {
		if c := k[i]; !labelKeyStart(c) && c != '.' && c != '_' && c != '/' && c != '-' {
			return fmt.Errorf("%w: key %q: byte %q is not in [a-z0-9._/-]", ErrBadLabel, k, c)
		}
	}
	return nil
}

func labelKeyStart(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func checkLabelValue(k, v string) error {
	switch {
	case len(v) > MaxLabelValue:
		return fmt.Errorf("%w: value of %q is %d bytes, at most %d", ErrBadLabel, k, len(v), MaxLabelValue)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: value of %q is not valid UTF-8", ErrBadLabel, k)
	case strings.ContainsFunc(v, unicode.IsControl):
		return fmt.Errorf("%w: value of %q has control characters", ErrBadLabel, k)
	}
	return nil
}

// HasLabels reports whether every key=value of sel is among n's
// labels. An empty (or nil) sel matches every node.
func (n NodeInfo) HasLabels(sel map[string]string) bool {
	for k, want := range sel {
		if got, ok := n.Labels[k]; !ok || got != want {
			return false
		}
	}
	return true
}

// cloneLabels returns a copy of labels, nil when there are none.
func cloneLabels(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	return maps.Clone(labels)
}

// FormatLabels writes labels as "k1=v1,k2=v2" sorted by key, for logs
// and tables; "" when there are none.
func FormatLabels(labels map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(labels)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}
