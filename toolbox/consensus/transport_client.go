package consensus

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/hashicorp/raft"
)

// call sends body to service svc of the member at target under
// timeout, and returns the reply. Errors name the RPC and the target,
// and wrap core's error (errors.Is works on core's sentinels).
func (t *Transport) call(c *rpcCounters, what, svc string, target raft.ServerAddress, body []byte, timeout time.Duration) ([]byte, error) {
	if !t.enter() {
		return nil, fmt.Errorf("consensus: %s to %s: %w", what, target, raft.ErrTransportShutdown)
	}
	defer t.leave()
	c.sent.Add(1)
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	reply, err := t.peer.Call(ctx, t.svc(svc), body, core.At(string(target)))
	if err != nil {
		c.failed.Add(1)
		return nil, fmt.Errorf("consensus: %s to %s: %w", what, target, err)
	}
	return reply, nil
}

// decodeFailed counts and wraps a reply that does not decode.
func decodeFailed(c *rpcCounters, what string, target raft.ServerAddress, err error) error {
	c.failed.Add(1)
	return fmt.Errorf("consensus: %s reply from %s: %w", what, target, err)
}

// AppendEntries sends args to target and fills resp. A heartbeat goes to
// the heartbeat service, under WithHeartbeatCallTimeout; entries go to
// the append service, under WithRPCTimeout.
func (t *Transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	c, what, svc, timeout := &t.stats.append, "AppendEntries", svcAppend, t.cfg.rpcTimeout
	if isHeartbeat(args) {
		c, what, svc, timeout = &t.stats.heartbeat, "heartbeat", svcHeartbeat, t.cfg.heartbeatTimeout
	}
	reply, err := t.call(c, what, svc, target, encodeAppendRequest(args), timeout)
	if err != nil {
		return err
	}
	if err := decodeAppendResponse(reply, resp); err != nil {
		return decodeFailed(c, what, target, err)
	}
	return nil
}

// RequestVote sends args to target and fills resp.
func (t *Transport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	c := &t.stats.vote
	reply, err := t.call(c, "RequestVote", svcVote, target, encodeVoteRequest(args), t.cfg.rpcTimeout)
	if err != nil {
		return err
	}
	if err := decodeVoteResponse(reply, resp); err != nil {
		return decodeFailed(c, "RequestVote", target, err)
	}
	return nil
}

// RequestPreVote sends args to target and fills resp.
func (t *Transport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	c := &t.stats.preVote
	reply, err := t.call(c, "RequestPreVote", svcPreVote, target, encodePreVoteRequest(args), t.cfg.rpcTimeout)
	if err != nil {
		return err
	}
	if err := decodePreVoteResponse(reply, resp); err != nil {
		return decodeFailed(c, "RequestPreVote", target, err)
	}
	return nil
}

// TimeoutNow sends args to target (a leadership transfer) and fills
// resp.
func (t *Transport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	c := &t.stats.timeoutNow
	reply, err := t.call(c, "TimeoutNow", svcTimeout, target, encodeTimeoutNowRequest(args), t.cfg.rpcTimeout)
	if err != nil {
		return err
	}
	if err := decodeTimeoutNowResponse(reply, resp); err != nil {
		return decodeFailed(c, "TimeoutNow", target, err)
	}
	return nil
}

// InstallSnapshot streams args and then args.Size bytes of data to
// target with core's Upload, which holds a window of chunks of it at a
// time, and fills resp with the follower's answer. The deadline is that
// of WithSnapshotTimeout.
func (t *Transport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	c := &t.stats.snapshot
	if !t.enter() {
		return fmt.Errorf("consensus: InstallSnapshot to %s: %w", target, raft.ErrTransportShutdown)
	}
	defer t.leave()
	c.sent.Add(1)
	ctx, cancel := context.WithTimeout(t.ctx, t.snapshotTimeout(args.Size))
	defer cancel()
	body := &countingReader{r: io.LimitReader(data, args.Size), n: &t.stats.snapshotBytesOut}
	reply, err := t.peer.Upload(ctx, t.svc(svcSnapshot), encodeSnapshotRequest(args), body, core.At(string(target)))
	if err != nil {
		c.failed.Add(1)
		return fmt.Errorf("consensus: InstallSnapshot of %d bytes to %s: %w", args.Size, target, err)
	}
	if err := decodeSnapshotResponse(reply, resp); err != nil {
		return decodeFailed(c, "InstallSnapshot", target, err)
	}
	return nil
}

// snapshotTimeout is the deadline of a snapshot of size bytes.
func (t *Transport) snapshotTimeout(size int64) time.Duration {
	return t.cfg.snapTimeout + time.Duration(size/t.cfg.snapRate)*time.Second
}
