package consensus

import (
	"testing"

	"github.com/hashicorp/raft"
)

// Each decoder, given any bytes, returns a value or an error without
// panicking, and a value it returns encodes back to the same bytes.

func trFuzzSeeds(f *testing.F, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Add([]byte{codecVersion})
}

func FuzzDecodeAppendRequest(f *testing.F) {
	trFuzzSeeds(f, encodeAppendRequest(&raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 2, Entries: trEntries()}),
		encodeAppendRequest(&raft.AppendEntriesRequest{Term: 2, RPCHeader: trHeader(3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeAppendRequest(b)
		if err != nil {
			return
		}
		if string(encodeAppendRequest(r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeAppendResponse(f *testing.F) {
	trFuzzSeeds(f, encodeAppendResponse(&raft.AppendEntriesResponse{RPCHeader: trHeader(3), Term: 2, LastLog: 4, Success: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r raft.AppendEntriesResponse
		if decodeAppendResponse(b, &r) == nil && string(encodeAppendResponse(&r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeVoteRequest(f *testing.F) {
	trFuzzSeeds(f, encodeVoteRequest(&raft.RequestVoteRequest{RPCHeader: trHeader(3), Term: 2, Candidate: []byte("c")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeVoteRequest(b); err == nil && string(encodeVoteRequest(r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeVoteResponse(f *testing.F) {
	trFuzzSeeds(f, encodeVoteResponse(&raft.RequestVoteResponse{RPCHeader: trHeader(3), Term: 2, Granted: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r raft.RequestVoteResponse
		if decodeVoteResponse(b, &r) == nil && string(encodeVoteResponse(&r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodePreVoteRequest(f *testing.F) {
	trFuzzSeeds(f, encodePreVoteRequest(&raft.RequestPreVoteRequest{RPCHeader: trHeader(3), Term: 2, LastLogIndex: 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodePreVoteRequest(b); err == nil && string(encodePreVoteRequest(r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodePreVoteResponse(f *testing.F) {
	trFuzzSeeds(f, encodePreVoteResponse(&raft.RequestPreVoteResponse{RPCHeader: trHeader(3), Term: 2, Granted: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r raft.RequestPreVoteResponse
		if decodePreVoteResponse(b, &r) == nil && string(encodePreVoteResponse(&r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeSnapshotRequest(f *testing.F) {
	trFuzzSeeds(f, encodeSnapshotRequest(&raft.InstallSnapshotRequest{RPCHeader: trHeader(3), Term: 2, Size: 1 << 30, Configuration: []byte("c")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeSnapshotRequest(b); err == nil && string(encodeSnapshotRequest(r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeSnapshotResponse(f *testing.F) {
	trFuzzSeeds(f, encodeSnapshotResponse(&raft.InstallSnapshotResponse{RPCHeader: trHeader(3), Term: 2, Success: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r raft.InstallSnapshotResponse
		if decodeSnapshotResponse(b, &r) == nil && string(encodeSnapshotResponse(&r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeTimeoutNowRequest(f *testing.F) {
	trFuzzSeeds(f, encodeTimeoutNowRequest(&raft.TimeoutNowRequest{RPCHeader: trHeader(3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeTimeoutNowRequest(b); err == nil && string(encodeTimeoutNowRequest(r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeTimeoutNowResponse(f *testing.F) {
	trFuzzSeeds(f, encodeTimeoutNowResponse(&raft.TimeoutNowResponse{RPCHeader: trHeader(3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r raft.TimeoutNowResponse
		if decodeTimeoutNowResponse(b, &r) == nil && string(encodeTimeoutNowResponse(&r)) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}

func FuzzDecodeAnyAppendRequest(f *testing.F) {
	trFuzzSeeds(f, encodePipedAppendRequest(7, 1, &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 2, Entries: trEntries()}),
		encodeAppendRequest(&raft.AppendEntriesRequest{Term: 2, RPCHeader: trHeader(3)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, id, seq, err := decodeAnyAppendRequest(b)
		if err != nil {
			return
		}
		again := encodeAppendRequest(r)
		if seq != 0 {
			again = encodePipedAppendRequest(id, seq, r)
		}
		if string(again) != string(b) {
			t.Fatalf("re-encoding %x differs", b)
		}
	})
}
