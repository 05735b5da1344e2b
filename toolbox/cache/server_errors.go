package cache

import (
	"errors"
	"fmt"

	"github.com/gozmp/zmp/core"
)

// Errors of a cache server and its Client. Test for them with
// errors.Is.
var (
	// ErrNotFound means the server holds no live entry under the key.
	ErrNotFound = errors.New("cache: not found")
	// ErrVersionMismatch means a CompareAndSet found another version of
	// the entry than the one it was given (or an entry where it was
	// given 0, or none where it was given a version).
	ErrVersionMismatch = errors.New("cache: version mismatch")
	// ErrBadKey reports a key that is empty or longer than MaxKeyLen.
	ErrBadKey = errors.New("cache: bad key")
)

// Remote error codes of a cache server, in the application range of
// core.Code. They are stable on the wire; the Client maps them back to
// the sentinels above.
const (
	// CodeVersionMismatch answers a CAS whose version is not the
	// entry's; the message gives the entry's version (0: absent).
	CodeVersionMismatch core.Code = 1410
	// CodeValueTooLarge answers a set or CAS whose value is larger than
	// the server's maximum value size, or than its whole byte bound.
	CodeValueTooLarge core.Code = 1411
)

// remoteToSentinel returns err with the package's sentinel joined to it
// when err is a RemoteError of one of the server's codes (or a bad
// request, which the server answers for bad keys), so that errors.Is
// finds both the sentinel and the *core.RemoteError.
func remoteToSentinel(err error) error {
	var re *core.RemoteError
	if !errors.As(err, &re) {
		return err
	}
	switch re.Code {
	case CodeVersionMismatch:
		return fmt.Errorf("%w: %w", ErrVersionMismatch, err)
	case CodeValueTooLarge:
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return err
}

// checkKey reports whether key may be stored by a cache server.
func checkKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes (1 to %d)", ErrBadKey, len(key), MaxKeyLen)
	}
	return nil
}
