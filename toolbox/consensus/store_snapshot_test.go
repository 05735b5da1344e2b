package consensus

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"
)

// stWriteSnapshot writes a snapshot at index with data and closes it.
func stWriteSnapshot(t *testing.T, s *Store, index uint64, data []byte) {
	t.Helper()
	conf := raft.Configuration{Servers: []raft.Server{{ID: "n1", Address: "n1", Suffrage: raft.Voter}}}
	_, trans := raft.NewInmemTransport("n1") // Create encodes legacy peers through it
	defer trans.Close()
	sink, err := s.Snapshots().Create(raft.SnapshotVersionMax, index, 3, conf, 1, trans)
	stMust(t, err)
	if _, err := sink.Write(data); err != nil {
		sink.Cancel()
		t.Fatal(err)
	}
	stMust(t, sink.Close())
}

func TestStoreSnapshotReopen(t *testing.T) {
	for _, b := range stBackends() {
		t.Run(b.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := stOpen(t, dir, WithBackend(b))
			data := bytes.Repeat([]byte("snapshot state "), 1000)
			stWriteSnapshot(t, s, 42, data)
			stMust(t, s.Close())

			s = stOpen(t, dir, WithBackend(b))
			metas, err := s.Snapshots().List()
			stMust(t, err)
			if len(metas) != 1 || metas[0].Index != 42 || metas[0].Term != 3 || metas[0].Size != int64(len(data)) {
				t.Fatalf("List = %+v", metas)
			}
			if len(metas[0].Configuration.Servers) != 1 || metas[0].Configuration.Servers[0].ID != "n1" {
				t.Fatalf("configuration = %+v", metas[0].Configuration)
			}
			_, rc, err := s.Snapshots().Open(metas[0].ID)
			stMust(t, err)
			got, err := io.ReadAll(rc)
			rc.Close()
			stMust(t, err)
			if !bytes.Equal(got, data) {
				t.Fatalf("snapshot read back %d bytes, wrote %d", len(got), len(data))
			}
		})
	}
}

func TestStoreSnapshotRetain(t *testing.T) {
	for _, retain := range []int{1, 3} {
		t.Run("retain="+strconv.Itoa(retain), func(t *testing.T) {
			s := stOpen(t, t.TempDir(), WithSnapshotRetain(retain))
			for i := uint64(1); i <= 5; i++ {
				stWriteSnapshot(t, s, 10*i, []byte{byte(i)})
			}
			metas, err := s.Snapshots().List()
			stMust(t, err)
			if len(metas) != retain {
				t.Fatalf("kept %d snapshots, want %d", len(metas), retain)
			}
			if metas[0].Index != 50 { // newest first
				t.Fatalf("newest kept snapshot is at %d, want 50", metas[0].Index)
			}
		})
	}
}
