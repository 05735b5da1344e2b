// Package agent runs zmp nodes on a host when asked to, and keeps them
// running: a host agent. Placement is explicit — a controller names the
// agent (or a label selector that must match exactly one) and the kind
// to run there; nothing is scheduled behind the user's back.
//
// An Agent is a node of its own, named (WithName, by default
// "agent-<hostname>"), labelled (WithLabels), bound at a fixed endpoint
// (WithBind) and listed in the registry. Its services start, stop and
// restart nodes of the kinds its core.Launcher registered (kinds may
// take arguments: core.Launcher.RegisterArgs), list them, stream their
// output and describe the agent:
//
//	agent.start   Spec {name, kind, args, restart} → NodeStatus
//	agent.stop    {name} → NodeStatus
//	agent.restart {name} → NodeStatus
//	agent.ps      → []NodeStatus
//	agent.logs    LogsRequest {name, tail, follow} → a stream of lines
//	agent.status  → Status {host, labels, kinds, limits, counts}
//
// Client calls them from a controller's peer; `zmptool agent` runs an
// agent and `zmptool run|ps|stop|restart|logs|agents` are clients (see
// docs/zmptool.md and docs/supervision.md#host-agents-and-placement). A program with kinds of its
// own runs its own agent: register the kinds, call RunChild first
// thing in main, then New and Start.
//
// # Nodes
//
// Every node is a child process of the agent (a re-executed copy of its
// binary, see core.Launcher), under a supervise.Supervisor of its own:
// one that ends is restarted by its restart type (Spec.Restart:
// permanent, transient, temporary), with the supervisor's backoff, and
// a node that keeps failing reaches its own intensity and is left
// failed without touching the others (WithSupervisorOptions). Restarts
// are logged, counted (NodeStatus.Restarts) and noted in the node's
// output. A node gets the agent's registry (so it registers itself),
// security, host (WithNodeHost) and labels, plus the label LabelAgent
// naming the agent. Its stdout and stderr lines are kept in a ring
// bounded by lines and bytes (WithLogLimits), the dropped ones counted.
//
// # Idempotent placement
//
// Starting a node that already runs on the agent with the same kind,
// arguments and restart type returns it as Adopted: nothing restarts.
// Another kind, other arguments or another restart type is ErrConflict.
// So a controller that crashes can come back and apply its placements
// again. Nodes keep running while no controller is connected, and a
// start goes on at the agent when its caller goes away. A node that
// had ended or failed is started again by a new start of the same
// spec. Stop removes a node, freeing its name.
//
// # Safety
//
// An agent runs code on request. It refuses to run without CURVE
// (WithSecurity, whose Authenticator decides which client keys may call
// it) unless given WithInsecure(true) and a loopback bind address:
// New fails with ErrInsecure otherwise. Requests are decoded strictly
// and bounded (MaxRequestBytes, WithArgLimits, WithMaxNodes, names of
// CheckName's form); a bad one is refused with a typed error and a
// stable code (CodeBadRequest …), counted in Status.Counts.Refused.
// Starts, stops and restarts run a few at a time; logs streams are
// bounded in number and in buffered bytes, and closed when their
// caller stops reading.
//
// # Lifecycle
//
// New checks the options and starts nothing. Start binds, registers
// and serves. Close (or Shutdown, bounded by a context) refuses new
// requests, lets operations under way give up, stops every node in
// reverse placement order within its shutdown (WithShutdown), closes
// the agent's peer and waits for every goroutine. A child never
// outlives the agent: if the agent is killed, the kernel kills its
// nodes (core.Launcher).
//
// # Errors
//
// Sentinels, matched with errors.Is on the agent's side and on what a
// Client returns: ErrBadRequest, ErrUnknownKind, ErrBadArgs,
// ErrTooManyNodes, ErrBadName, ErrTooLarge, ErrConflict, ErrNotFound,
// ErrStartFailed, ErrNameTaken, ErrClosed, each with its Code on the
// wire; and ErrInsecure, ErrBadOption, ErrNoAgent, ErrAmbiguous locally.
package agent
