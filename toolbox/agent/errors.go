package agent

import (
	"errors"
	"fmt"

	"github.com/gozmp/zmp/core"
)

// Sentinel errors. Test for them with errors.Is. The errors an agent
// returns to a caller cross the network as *core.RemoteError with one
// of the codes below; the Client joins the matching sentinel to them,
// so that errors.Is finds both.
var (
	// ErrBadRequest reports a request the agent could not decode: not
	// JSON of the service's shape, unknown fields, trailing bytes, an
	// unknown restart type.
	ErrBadRequest = errors.New("agent: bad request")
	// ErrUnknownKind reports a kind the agent's launcher has not
	// registered.
	ErrUnknownKind = errors.New("agent: unknown node kind")
	// ErrBadArgs reports arguments the kind's constructor refused (see
	// core.ErrBadArgs), or arguments that are not valid UTF-8 text
	// without control characters.
	ErrBadArgs = errors.New("agent: bad arguments")
	// ErrTooManyNodes means the agent already holds as many nodes as
	// WithMaxNodes allows.
	ErrTooManyNodes = errors.New("agent: too many nodes")
	// ErrBadName reports a node name that is not 1 to MaxNameLen bytes
	// of [A-Za-z0-9._-] beginning with a letter or a digit.
	ErrBadName = errors.New("agent: bad node name")
	// ErrTooLarge reports a request body, or arguments, beyond the
	// agent's limits (WithArgLimits, MaxRequestBytes).
	ErrTooLarge = errors.New("agent: request too large")
	// ErrConflict means a node of that name is placed on the agent with
	// another kind, other arguments or another restart type. Stop it
	// first to place another.
	ErrConflict = errors.New("agent: conflicting placement")
	// ErrNotFound means the agent holds no node of that name.
	ErrNotFound = errors.New("agent: no such node")
	// ErrStartFailed means the node did not start; the message gives
	// its own error (a child that exited, a Setup that failed…).
	ErrStartFailed = errors.New("agent: node failed to start")
	// ErrNameTaken means another live node holds the name in the
	// registry (on this agent's host or another).
	ErrNameTaken = errors.New("agent: node name taken in the registry")
	// ErrClosed is returned by an agent that is shutting down or
	// closed, and by calls on a closed Agent.
	ErrClosed = errors.New("agent: closed")

	// ErrInsecure is returned by New and Start for an agent that would
	// accept unauthenticated requests from beyond this host: without
	// CURVE (WithSecurity), it needs WithInsecure(true) and a loopback
	// bind address.
	ErrInsecure = errors.New("agent: refusing to run unauthenticated")
	// ErrBadOption reports an option with a value it cannot take.
	ErrBadOption = errors.New("agent: bad option")
	// ErrNoAgent means no agent in the registry matches a selector
	// (Client.Select).
	ErrNoAgent = errors.New("agent: no matching agent")
	// ErrAmbiguous means a label selector matches more than one agent
	// where one was wanted (Client.Select); the message lists them.
	ErrAmbiguous = errors.New("agent: selector matches several agents")
)

// Remote error codes of an agent, in the application range of
// core.Code. They are stable on the wire.
const (
	CodeBadRequest   core.Code = 1600
	CodeUnknownKind  core.Code = 1601
	CodeBadArgs      core.Code = 1602
	CodeTooManyNodes core.Code = 1603
	CodeBadName      core.Code = 1604
	CodeTooLarge     core.Code = 1605
	CodeConflict     core.Code = 1606
	CodeNotFound     core.Code = 1607
	CodeStartFailed  core.Code = 1608
	CodeNameTaken    core.Code = 1609
	CodeClosed       core.Code = 1610
)

// codes maps each code to its sentinel.
var codes = map[core.Code]error{
	CodeBadRequest: ErrBadRequest, CodeUnknownKind: ErrUnknownKind, CodeBadArgs: ErrBadArgs,
	CodeTooManyNodes: ErrTooManyNodes, CodeBadName: ErrBadName, CodeTooLarge: ErrTooLarge,
	CodeConflict: ErrConflict, CodeNotFound: ErrNotFound, CodeStartFailed: ErrStartFailed,
	CodeNameTaken: ErrNameTaken, CodeClosed: ErrClosed,
}

// Code returns the wire code of an agent error: the code of a
// *core.RemoteError in err's chain, or that of the first sentinel of
// this package err matches; 0 when neither.
func Code(err error) core.Code {
	var re *core.RemoteError
	if errors.As(err, &re) {
		return re.Code
	}
	for c, s := range codes {
		if errors.Is(err, s) {
			return c
		}
	}
	return 0
}

// failure is an error of the agent's with its wire code: its text
// begins with the sentinel's, a handler returns it as a
// *core.RemoteError (toRemote), and it matches its sentinel.
func failure(code core.Code, format string, args ...any) error {
	return &codedError{code: code, msg: codes[code].Error() + ": " + fmt.Sprintf(format, args...)}
}

type codedError struct {
	code core.Code
	msg  string
}

func (e *codedError) Error() string             { return e.msg }
func (e *codedError) Is(target error) bool      { return target == codes[e.code] }
func (e *codedError) remote() *core.RemoteError { return core.NewError(e.code, "%s", e.msg) }

// toRemote turns an error of the agent's into what its handler
// returns: a *core.RemoteError with the agent's code.
func toRemote(err error) error {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.remote()
	}
	return err
}

// remoteError is an agent's error as a Client returns it: the
// *core.RemoteError that came back, matching its sentinel too.
type remoteError struct {
	sentinel error
	re       *core.RemoteError
}

func (e *remoteError) Error() string {
	if e.re.Node == "" {
		return e.re.Message
	}
	return e.re.Message + " (on " + e.re.Node + ")"
}

func (e *remoteError) Unwrap() []error { return []error{e.sentinel, e.re} }

// fromRemote joins the sentinel of an agent's code to err, a call's
// error, so that errors.Is finds both it and the *core.RemoteError.
func fromRemote(err error) error {
	var re *core.RemoteError
	if !errors.As(err, &re) {
		return err
	}
	if s, ok := codes[re.Code]; ok {
		return &remoteError{sentinel: s, re: re}
	}
	return err
}
