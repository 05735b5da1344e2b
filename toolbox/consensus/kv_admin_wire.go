package consensus

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/gozmp/zmp/core"
)

// The membership services' request and reply bodies (services
// NAME.members, NAME.add, NAME.remove, NAME.transfer;
// docs/consensus.md), in kv_wire.go's style: integers big-endian,
// strings a length (4 bytes) then the bytes.
//
//	members request   stale 1
//	members reply     count 4, members: id, address, voter 1, leader 1
//	add request       id, address
//	remove request    id
//	transfer request  id (empty: the most up-to-date follower)
//	add, remove and transfer replies are empty
//
// An id is 1 to MaxMemberIDLen bytes; an address 1 to MaxMemberAddrLen
// bytes, a zmp endpoint (tcp:// or ipc://, with "?key=" and a CURVE key
// when the member runs CURVE), as Transport.LocalAddr gives it.

// Bounds of membership requests.
const (
	MaxMemberIDLen   = 256
	MaxMemberAddrLen = 1024
	maxMembersReply  = 1024 // members in one reply
)

func appendMembersRequest(b []byte, stale bool) []byte { return appendBool(b, stale) }

func decodeMembersRequest(b []byte) (stale bool, err error) {
	r := cmdReader{b: b}
	stale = r.bool()
	return stale, r.done("members request")
}

func appendMembersReply(b []byte, ms []Member) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(ms)))
	for _, m := range ms {
		b = appendField(b, []byte(m.ID))
		b = appendField(b, []byte(m.Address))
		b = appendBool(b, m.Voter)
		b = appendBool(b, m.Leader)
	}
	return b
}

func decodeMembersReply(b []byte) ([]Member, error) {
	r := cmdReader{b: b}
	n := r.u32()
	if n > maxMembersReply {
		r.fail()
	}
	var ms []Member
	for i := uint32(0); i < n && !r.bad; i++ {
		m := Member{ID: r.memberField(MaxMemberIDLen), Address: r.memberField(MaxMemberAddrLen)}
		m.Voter, m.Leader = r.bool(), r.bool()
		ms = append(ms, m)
	}
	return ms, r.done("members reply")
}

func appendAddRequest(b []byte, id, addr string) []byte {
	return appendField(appendField(b, []byte(id)), []byte(addr))
}

func decodeAddRequest(b []byte) (id, addr string, err error) {
	r := cmdReader{b: b}
	id, addr = r.memberField(MaxMemberIDLen), r.memberField(MaxMemberAddrLen)
	if err := r.done("add request"); err != nil {
		return "", "", err
	}
	if err := checkMemberAddr(addr); err != nil {
		return "", "", err
	}
	return id, addr, nil
}

func appendIDRequest(b []byte, id string) []byte { return appendField(b, []byte(id)) }

// decodeRemoveRequest reads a remove request: an id, not empty.
func decodeRemoveRequest(b []byte) (string, error) {
	r := cmdReader{b: b}
	id := r.memberField(MaxMemberIDLen)
	return id, r.done("remove request")
}

// decodeTransferRequest reads a transfer request: an id, or empty for
// any follower.
func decodeTransferRequest(b []byte) (string, error) {
	r := cmdReader{b: b}
	n := int(r.u32())
	if n > MaxMemberIDLen {
		r.fail()
	}
	id := string(r.take(n))
	return id, r.done("transfer request")
}

// memberField reads a string of 1 to max bytes.
func (r *cmdReader) memberField(max int) string {
	n := int(r.u32())
	if n == 0 || n > max {
		r.fail()
		return ""
	}
	return string(r.take(n))
}

// checkMemberID checks a member's id on the caller's side.
func checkMemberID(id string) error {
	if id == "" || len(id) > MaxMemberIDLen {
		return fmt.Errorf("%w: a member id is 1 to %d bytes, got %d", ErrBadRequest, MaxMemberIDLen, len(id))
	}
	return nil
}

// checkMemberAddr checks that addr is a member's address as this
// package's Transport gives it: a tcp:// or ipc:// endpoint, keyed or
// not.
func checkMemberAddr(addr string) error {
	if addr == "" || len(addr) > MaxMemberAddrLen {
		return fmt.Errorf("%w: a member address is 1 to %d bytes, got %d", ErrBadRequest, MaxMemberAddrLen, len(addr))
	}
	ep, _, err := core.SplitKeyedEndpoint(addr)
	if err != nil {
		return fmt.Errorf("%w: member address: %v", ErrBadRequest, err)
	}
	rest, ok := strings.CutPrefix(ep, "tcp://")
	if !ok {
		rest, ok = strings.CutPrefix(ep, "ipc://")
	}
	if !ok || rest == "" {
		return fmt.Errorf("%w: member address %q is not a tcp:// or ipc:// endpoint", ErrBadRequest, addr)
	}
	return nil
}
