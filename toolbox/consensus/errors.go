package consensus

import "errors"

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrLeaseNotFound means a lease does not exist (it expired, was
	// revoked, or never was).
	ErrLeaseNotFound = errors.New("consensus: lease not found")
	// ErrLeaseExists means a grant named a lease that exists.
	ErrLeaseExists = errors.New("consensus: lease exists")
	// ErrCompacted means a watch asked for events older than the
	// history the store keeps.
	ErrCompacted = errors.New("consensus: revision compacted")
	// ErrClosed is returned by operations on a closed object.
	ErrClosed = errors.New("consensus: closed")
)
