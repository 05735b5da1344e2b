package core

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrClosed is returned by every operation on a closed Peer or Node.
	ErrClosed = errors.New("core: closed")
	// ErrNoProvider means the registry lists no reachable node providing
	// the service (or the pinned node does not provide it).
	ErrNoProvider = errors.New("core: no provider")
	// ErrTimeout means the call's deadline passed before a reply came.
	ErrTimeout = errors.New("core: call timed out")
	// ErrUnknownService is returned when the provider does not (or no
	// longer) offer the service. It matches a RemoteError with CodeUnknownService.
	ErrUnknownService = errors.New("core: unknown service")
	// ErrTooLarge means a request, reply or message exceeds the maximum
	// message size. It matches a RemoteError with CodeTooLarge.
	ErrTooLarge = errors.New("core: message too large")
	// ErrConnectionLost means the connection to the provider broke while
	// the call was in flight; the handler may or may not have run.
	ErrConnectionLost = errors.New("core: connection to provider lost")
	// ErrNotSent is matched by a call's error when the request was
	// never written to a provider: no handler ran it, so trying it
	// again is safe even when it is not idempotent. It comes with the
	// reason, for example a context that ended, or the deadline, while
	// the call waited for its connection. A call that failed without it
	// (ErrConnectionLost, a timeout after the request went out) may or
	// may not have run. ErrNoProvider (no provider was reached) and
	// ErrOverloaded (the provider shed it) also mean that it did not run.
	ErrNotSent = errors.New("core: request not sent")
	// ErrOverloaded is returned when the provider's request queue is full.
	// It matches a RemoteError with CodeOverloaded.
	ErrOverloaded = errors.New("core: provider overloaded")
	// ErrNameTaken means a live node already holds the name in the registry.
	ErrNameTaken = errors.New("core: node name taken")
	// ErrNotOwner is returned by a registry node to a client that tries
	// to overwrite or remove an entry another connection registered.
	ErrNotOwner = errors.New("core: registry entry belongs to another client")
	// ErrRegistryUnavailable means the registry could not be reached or
	// did not answer in time. A peer keeps working without it: calls use
	// the last view, and registration is retried in the background.
	ErrRegistryUnavailable = errors.New("core: registry unavailable")
	// ErrTooManyTopics means a peer would advertise more topics than
	// WithMaxTopics allows.
	ErrTooManyTopics = errors.New("core: too many topics")
	// ErrNotFound means the registry has no live entry of that name.
	ErrNotFound = errors.New("core: not found")
	// ErrStop, returned by an update function, ends its node cleanly.
	ErrStop = errors.New("core: stop")
	// ErrAlreadyStarted is returned by Start on a running node.
	ErrAlreadyStarted = errors.New("core: node already started")
	// ErrStopTimeout means a node did not stop within its deadline and
	// was killed (child process) or abandoned (in-process).
	ErrStopTimeout = errors.New("core: node did not stop in time")
	// ErrBadName reports a service, topic or node name that is empty or
	// holds control characters.
	ErrBadName = errors.New("core: bad name")
)

// Code classifies a RemoteError. Codes below 1000 are defined by zmp
// and stable on the wire; applications may use 1000 and above.
type Code uint16

// Codes sent by zmp nodes (docs/protocol.md lists them).
const (
	CodeHandler          Code = 1 // the handler returned an error
	CodeUnknownService   Code = 2 // no such service on that node
	CodeBadRequest       Code = 3 // the request could not be decoded
	CodeDeadlineExceeded Code = 4 // the handler outlived the caller's deadline
	CodeOverloaded       Code = 5 // the request queue was full
	CodeTooLarge         Code = 6 // the reply exceeded the maximum message size
	CodeUnavailable      Code = 7 // the node is shutting down
	CodePanic            Code = 8 // the handler panicked
	CodeCanceled         Code = 9 // the handler gave up: its call was cancelled (CANCEL, the caller left, or the node stopped)
)

func (c Code) String() string {
	switch c {
	case CodeHandler:
		return "handler error"
	case CodeUnknownService:
		return "unknown service"
	case CodeBadRequest:
		return "bad request"
	case CodeDeadlineExceeded:
		return "deadline exceeded"
	case CodeOverloaded:
		return "overloaded"
	case CodeTooLarge:
		return "too large"
	case CodeUnavailable:
		return "unavailable"
	case CodePanic:
		return "handler panic"
	case CodeCanceled:
		return "canceled"
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// RemoteError is an error that a provider returned for a call. Code is
// stable across versions; Message is the handler's error text; Detail
// carries extra text such as a panic's stack trace.
type RemoteError struct {
	Code    Code
	Message string
	Detail  string
	Node    string // the provider's name, filled in by the caller
	Service string // filled in by the caller
}

// NewError returns a RemoteError with code, for handlers that want the
// caller to see a code other than CodeHandler.
func NewError(code Code, format string, args ...any) *RemoteError {
	return &RemoteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *RemoteError) Error() string {
	where := e.Service
	if e.Node != "" {
		where += "@" + e.Node
	}
	if where != "" {
		where = " (" + where + ")"
	}
	return fmt.Sprintf("core: remote %s%s: %s", e.Code, where, e.Message)
}

// Is matches another *RemoteError with the same Code, and the sentinel
// that corresponds to the code (ErrUnknownService, ErrTooLarge,
// ErrOverloaded, and for CodeDeadlineExceeded both ErrTimeout and
// context.DeadlineExceeded, like a call that timed out locally).
func (e *RemoteError) Is(target error) bool {
	if t, ok := target.(*RemoteError); ok {
		return t.Code == e.Code
	}
	switch e.Code {
	case CodeUnknownService:
		return target == ErrUnknownService
	case CodeTooLarge:
		return target == ErrTooLarge
	case CodeOverloaded:
		return target == ErrOverloaded
	case CodeDeadlineExceeded:
		return target == ErrTimeout || target == context.DeadlineExceeded
	}
	return false
}

func asRemote(err error, target **RemoteError) bool { return errors.As(err, target) }

func isNameTaken(err error) bool { return errors.Is(err, ErrNameTaken) }
