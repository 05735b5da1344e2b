package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Metadata is a small set of key/value headers carried with a request
// or a reply, next to its body: a trace id, a priority class, a cache
// directive, an idempotency flag. Keys are 1 to 64 bytes of lowercase
// ASCII letters, digits, '-', '_' and '.'; values are UTF-8 without
// control characters. Encoded, a set takes at most MaxMetadataBytes.
// Keys starting with "zmp-" are reserved for zmp.
//
// A caller sends metadata with WithMetadata and receives the reply's
// with ReplyMetadata; a handler reads Request.Meta and sets
// Request.ReplyMeta. Metadata crosses the wire only when a call has
// some (or asks for the reply's), so calls without it cost nothing
// more. docs/protocol.md gives the encoding.
type Metadata map[string]string

// Well-known metadata keys. zmp sets MetaIdempotent on calls marked
// Idempotent; the others are conventions for interceptors.
const (
	MetaTraceID      = "trace-id"      // a request's trace identifier
	MetaPriority     = "priority"      // a priority class, e.g. "interactive", "batch"
	MetaCacheControl = "cache-control" // e.g. "no-cache", "max-age=30"
	MetaIdempotent   = "idempotent"    // "1": running the call twice is harmless
)

// Bounds of metadata.
const (
	// MaxMetadataBytes bounds one request's or reply's metadata as
	// encoded (see docs/protocol.md): a larger set is refused by the
	// sender and answered CodeBadRequest by a provider.
	MaxMetadataBytes = 4096
	maxMetaKeyLen    = 64
)

// ErrBadMetadata reports metadata that breaks the rules of Metadata.
var ErrBadMetadata = errors.New("core: bad metadata")

// Get returns the value of key, or "" when absent.
func (md Metadata) Get(key string) string { return md[key] }

// Clone returns a copy of md (nil for nil).
func (md Metadata) Clone() Metadata {
	if md == nil {
		return nil
	}
	c := make(Metadata, len(md))
	for k, v := range md {
		c[k] = v
	}
	return c
}

// Validate reports whether md can be sent: valid keys and values, and
// at most MaxMetadataBytes encoded.
func (md Metadata) Validate() error {
	size := 0
	for k, v := range md {
		if err := checkMetaKey(k); err != nil {
			return err
		}
		if err := checkMetaValue(k, v); err != nil {
			return err
		}
		size += 3 + len(k) + len(v)
	}
	if size > MaxMetadataBytes {
		return fmt.Errorf("%w: %d bytes encoded, limit %d", ErrBadMetadata, size, MaxMetadataBytes)
	}
	return nil
}

func checkMetaKey(k string) error {
	if k == "" || len(k) > maxMetaKeyLen {
		return fmt.Errorf("%w: key %q: want 1 to %d bytes", ErrBadMetadata, k, maxMetaKeyLen)
	}
	for i := range len(k) {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: key %q: only a-z, 0-9, '-', '_' and '.'", ErrBadMetadata, k)
		}
	}
	return nil
}

func checkMetaValue(k, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: value of %q is not UTF-8", ErrBadMetadata, k)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: value of %q has control characters", ErrBadMetadata, k)
		}
	}
	return nil
}

// encodeMeta encodes md, keys sorted, as docs/protocol.md specifies:
// for each entry, the key's length (1 byte), the key, the value's
// length (2 bytes, big-endian), the value. md must be valid.
func encodeMeta(md Metadata) []byte {
	keys := make([]string, 0, len(md))
	size := 0
	for k, v := range md {
		keys = append(keys, k)
		size += 3 + len(k) + len(v)
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	for _, k := range keys {
		v := md[k]
		b = append(b, byte(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	return b
}

// decodeMeta decodes a metadata frame. An empty frame is an empty,
// non-nil set. Keys and values are copied out of b.
func decodeMeta(b []byte) (Metadata, error) {
	if len(b) > MaxMetadataBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBadMetadata, len(b), MaxMetadataBytes)
	}
	md := Metadata{}
	for len(b) > 0 {
		kl := int(b[0])
		if len(b) < 1+kl+2 {
			return nil, fmt.Errorf("%w: truncated entry", ErrBadMetadata)
		}
		k := string(b[1 : 1+kl])
		vl := int(binary.BigEndian.Uint16(b[1+kl:]))
		b = b[3+kl:]
		if len(b) < vl {
			return nil, fmt.Errorf("%w: truncated value of %q", ErrBadMetadata, k)
		}
		v := string(b[:vl])
		b = b[vl:]
		if err := checkMetaKey(k); err != nil {
			return nil, err
		}
		if err := checkMetaValue(k, v); err != nil {
			return nil, err
		}
		if _, dup := md[k]; dup {
			return nil, fmt.Errorf("%w: key %q twice", ErrBadMetadata, k)
		}
		md[k] = v
	}
	return md, nil
}
