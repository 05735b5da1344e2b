package sock

import (
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp/zmtptest"
)

// TestPubSubscribeInHandshakePacket sends the greeting, READY and a
// subscription in one write, so the subscription is usually already
// buffered when the Pub starts the link's reader: the per-peer state
// must be in place before the reader runs (it once was assigned after
// StartLink, a data race that could also panic on a nil Value).
func TestPubSubscribeInHandshakePacket(t *testing.T) {
	p := startPub(t, "tcp://127.0.0.1:0", PubConfig{})
	for range 50 {
		nc := rawDial(t, p.Endpoint())
		b := append(zmtptest.NullGreeting(), zmtptest.ReadyType("SUB")...)
		b = append(b, zmtptest.Message([]byte("\x01x"))...) // subscribe to "x"
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() bool { return publish(p, "x") == 1 })
		nc.Close()
		waitFor(t, 10*time.Second, func() bool { return p.Stats().Subscribers == 0 })
	}
}
