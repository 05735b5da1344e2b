package consensus_test

import (
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/gozmp/zmp/toolbox/consensus"
	"github.com/hashicorp/raft"
)

// A Store is a node's raft data directory: pass its three stores to
// raft.NewRaft. A second open of a directory in use is refused, and a
// reopened directory has its data back.
func ExampleOpenStore() {
	dir, err := os.MkdirTemp("", "consensus-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := consensus.OpenStore(dir, consensus.WithBackend(consensus.BackendWAL))
	if err != nil {
		log.Fatal(err)
	}
	// raft.NewRaft(conf, fsm, s.Log(), s.Stable(), s.Snapshots(), transport)
	// would run a node on it; here we store an entry directly.
	if err := s.Log().StoreLog(&raft.Log{Index: 1, Term: 1, Data: []byte("hello")}); err != nil {
		log.Fatal(err)
	}
	_, err = consensus.OpenStore(dir)
	fmt.Println("second open refused:", errors.Is(err, consensus.ErrStoreLocked))
	s.Close()

	s, err = consensus.OpenStore(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	var l raft.Log
	if err := s.Log().GetLog(1, &l); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after reopen: %s (%v)\n", l.Data, s.Backend())
	// Output:
	// second open refused: true
	// after reopen: hello (wal)
}
