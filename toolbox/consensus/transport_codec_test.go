package consensus

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// trHeader is an RPCHeader with every field set.
func trHeader(v int) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersion(v), ID: []byte("node-id"), Addr: []byte("tcp://127.0.0.1:1?key=x")}
}

// trEntries has one entry of each log type, with data, extensions and
// times (zero, before 1970, with nanoseconds).
func trEntries() []*raft.Log {
	types := []raft.LogType{raft.LogCommand, raft.LogNoop, raft.LogAddPeerDeprecated,
		raft.LogRemovePeerDeprecated, raft.LogBarrier, raft.LogConfiguration, raft.LogType(200)}
	var logs []*raft.Log
	for i, typ := range types {
		l := &raft.Log{Index: uint64(1<<40 + i), Term: uint64(7 + i), Type: typ,
			Data: bytes.Repeat([]byte{byte(i)}, i*3), Extensions: []byte("ext")[:i%4],
			AppendedAt: time.Unix(int64(1700000000-i*1e9), int64(i*123456789))}
		if i == 0 {
			l.AppendedAt = time.Time{}
		}
		logs = append(logs, l)
	}
	return logs
}

// trSameLogs compares entries field by field (times with Equal, nil and
// empty slices alike).
func trSameLogs(t *testing.T, got, want []*raft.Log) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) ||
			!bytes.Equal(g.Extensions, w.Extensions) || !g.AppendedAt.Equal(w.AppendedAt) || g.AppendedAt.IsZero() != w.AppendedAt.IsZero() {
			t.Fatalf("entry %d: got %+v, want %+v", i, g, w)
		}
	}
}

// trNormalize makes nil and empty byte slices alike, so reflect.DeepEqual
// compares what the wire carries.
func trNormalize(v any) any {
	rv := reflect.ValueOf(v).Elem()
	var walk func(reflect.Value)
	walk = func(f reflect.Value) {
		switch f.Kind() {
		case reflect.Struct:
			for i := 0; i < f.NumField(); i++ {
				walk(f.Field(i))
			}
		case reflect.Slice:
			if f.Type().Elem().Kind() == reflect.Uint8 && f.Len() == 0 && f.CanSet() {
				f.Set(reflect.Zero(f.Type()))
			}
		}
	}
	walk(rv)
	return v
}

func TestCodecRoundTrip(t *testing.T) {
	appendReq := &raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 9, Leader: []byte("old-leader"),
		PrevLogEntry: 1 << 62, PrevLogTerm: 8, LeaderCommitIndex: 1<<64 - 1, Entries: trEntries()}
	got, err := decodeAppendRequest(encodeAppendRequest(appendReq))
	if err != nil {
		t.Fatal(err)
	}
	trSameLogs(t, got.Entries, appendReq.Entries)
	got.Entries, appendReq.Entries = nil, nil
	if !reflect.DeepEqual(got, appendReq) {
		t.Fatalf("append request: got %+v, want %+v", got, appendReq)
	}

	cases := []struct {
		name string
		in   any
		rt   func(any) (any, error)
	}{
		{"append response", &raft.AppendEntriesResponse{RPCHeader: trHeader(1), Term: 5, LastLog: 77, Success: true, NoRetryBackoff: true},
			func(v any) (any, error) {
				var r raft.AppendEntriesResponse
				return &r, decodeAppendResponse(encodeAppendResponse(v.(*raft.AppendEntriesResponse)), &r)
			}},
		{"vote request", &raft.RequestVoteRequest{RPCHeader: trHeader(3), Term: 4, Candidate: []byte("c"), LastLogIndex: 10, LastLogTerm: 3, LeadershipTransfer: true},
			func(v any) (any, error) { return decodeVoteRequest(encodeVoteRequest(v.(*raft.RequestVoteRequest))) }},
		{"vote response", &raft.RequestVoteResponse{RPCHeader: trHeader(2), Term: 4, Peers: []byte("peers"), Granted: true},
			func(v any) (any, error) {
				var r raft.RequestVoteResponse
				return &r, decodeVoteResponse(encodeVoteResponse(v.(*raft.RequestVoteResponse)), &r)
			}},
		{"prevote request", &raft.RequestPreVoteRequest{RPCHeader: trHeader(3), Term: 12, LastLogIndex: 99, LastLogTerm: 11},
			func(v any) (any, error) {
				return decodePreVoteRequest(encodePreVoteRequest(v.(*raft.RequestPreVoteRequest)))
			}},
		{"prevote response", &raft.RequestPreVoteResponse{RPCHeader: trHeader(3), Term: 12, Granted: true},
			func(v any) (any, error) {
				var r raft.RequestPreVoteResponse
				return &r, decodePreVoteResponse(encodePreVoteResponse(v.(*raft.RequestPreVoteResponse)), &r)
			}},
		{"snapshot request", &raft.InstallSnapshotRequest{RPCHeader: trHeader(3), SnapshotVersion: 1, Term: 6, Leader: []byte("l"),
			LastLogIndex: 1000, LastLogTerm: 5, Peers: []byte("p"), Configuration: []byte("conf"), ConfigurationIndex: 900, Size: 1 << 40},
			func(v any) (any, error) {
				return decodeSnapshotRequest(encodeSnapshotRequest(v.(*raft.InstallSnapshotRequest)))
			}},
		{"snapshot response", &raft.InstallSnapshotResponse{RPCHeader: trHeader(3), Term: 6, Success: true},
			func(v any) (any, error) {
				var r raft.InstallSnapshotResponse
				return &r, decodeSnapshotResponse(encodeSnapshotResponse(v.(*raft.InstallSnapshotResponse)), &r)
			}},
		{"timeout now request", &raft.TimeoutNowRequest{RPCHeader: trHeader(-1)},
			func(v any) (any, error) {
				return decodeTimeoutNowRequest(encodeTimeoutNowRequest(v.(*raft.TimeoutNowRequest)))
			}},
		{"timeout now response", &raft.TimeoutNowResponse{RPCHeader: trHeader(0)},
			func(v any) (any, error) {
				var r raft.TimeoutNowResponse
				return &r, decodeTimeoutNowResponse(encodeTimeoutNowResponse(v.(*raft.TimeoutNowResponse)), &r)
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.rt(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.in) {
				t.Fatalf("got %+v, want %+v", got, c.in)
			}
			zero := reflect.New(reflect.TypeOf(c.in).Elem()).Interface()
			got, err = c.rt(zero)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(trNormalize(got), trNormalize(zero)) {
				t.Fatalf("zero value: got %+v", got)
			}
		})
	}
}

// Every field of raft's structs is on the wire: a field raft adds fails
// here until the codec carries it.
func TestCodecCoversEveryField(t *testing.T) {
	want := map[reflect.Type]int{
		reflect.TypeFor[raft.AppendEntriesRequest](): 7, reflect.TypeFor[raft.AppendEntriesResponse](): 5,
		reflect.TypeFor[raft.RequestVoteRequest](): 6, reflect.TypeFor[raft.RequestVoteResponse](): 4,
		reflect.TypeFor[raft.RequestPreVoteRequest](): 4, reflect.TypeFor[raft.RequestPreVoteResponse](): 3,
		reflect.TypeFor[raft.InstallSnapshotRequest](): 10, reflect.TypeFor[raft.InstallSnapshotResponse](): 3,
		reflect.TypeFor[raft.TimeoutNowRequest](): 1, reflect.TypeFor[raft.TimeoutNowResponse](): 1,
		reflect.TypeFor[raft.Log](): 6, reflect.TypeFor[raft.RPCHeader](): 3,
	}
	for typ, n := range want {
		if got := typ.NumField(); got != n {
			t.Errorf("%v has %d fields, the codec knows %d", typ, got, n)
		}
	}
}

func TestCodecRefusesGarbage(t *testing.T) {
	good := encodeAppendRequest(&raft.AppendEntriesRequest{RPCHeader: trHeader(3), Term: 1, Entries: trEntries()})
	bad := map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{9}, good[1:]...),
		"kind":          append([]byte{codecVersion, kindVoteReq}, good[2:]...),
		"truncated":     good[:len(good)-1],
		"trailing":      append(append([]byte{}, good...), 0),
		"huge count":    {codecVersion, kindAppendReq, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge length":   {codecVersion, kindAppendReq, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad bool":      {codecVersion, kindAppendResp, 0, 0, 0, 1, 1, 2, 0},
		"negative size": encodeSnapshotRequest(&raft.InstallSnapshotRequest{Size: -1}),
	}
	for name, b := range bad {
		var err error
		switch {
		case name == "bad bool":
			err = decodeAppendResponse(b, &raft.AppendEntriesResponse{})
		case name == "negative size":
			_, err = decodeSnapshotRequest(b)
		default:
			_, err = decodeAppendRequest(b)
		}
		if !errors.Is(err, errMalformed) {
			t.Errorf("%s: err %v, want errMalformed", name, err)
		}
	}
}

// A decoded byte field cannot be grown into the next one.
func TestCodecSlicesAreCapped(t *testing.T) {
	r, err := decodeVoteRequest(encodeVoteRequest(&raft.RequestVoteRequest{RPCHeader: trHeader(3), Candidate: []byte("ab"), LastLogIndex: 5}))
	if err != nil {
		t.Fatal(err)
	}
	if cap(r.ID) != len(r.ID) || cap(r.Candidate) != len(r.Candidate) {
		t.Fatalf("caps %d/%d and %d/%d", len(r.ID), cap(r.ID), len(r.Candidate), cap(r.Candidate))
	}
}
