package proxy

import (
	"github.com/gozmp/zmp/internal/sock"
	"github.com/gozmp/zmp/internal/zmtp"
)

// Labels of the tap's first frame.
var (
	labelFrontend = []byte("frontend")
	labelBackend  = []byte("backend")
)

// tap mirrors received messages on a PUB socket. A nil *tap mirrors
// nothing.
type tap struct{ pub *sock.Pub }

func newTap(c *config) (*tap, error) {
	if c.tap == "" {
		return nil, nil
	}
	pub, err := sock.ListenPub(c.tap, sock.PubConfig{
		Listen: listenConfig(c, c.sec.frontZ, zmtp.Pub, nil),
		Link:   sock.LinkConfig{QueueLen: c.peerQueue},
		Policy: sock.DropNewest,
	})
	if err != nil {
		return nil, err
	}
	return &tap{pub: pub}, nil
}

// mirror publishes [label, frames...]; the message is built only when
// a tap subscriber wants it.
func (t *tap) mirror(label []byte, frames [][]byte) {
	if t == nil {
		return
	}
	size := int64(len(label))
	for _, f := range frames {
		size += int64(len(f))
	}
	t.pub.PublishFunc(label, size, func() [][]byte {
		m := make([][]byte, 0, 1+len(frames))
		return append(append(m, label), frames...)
	})
}

func (t *tap) endpoint() string {
	if t == nil {
		return ""
	}
	return t.pub.Endpoint()
}

func (t *tap) close() {
	if t != nil {
		t.pub.Close()
	}
}

// listenConfig is the listener configuration of a proxy socket secured
// by sec.
func listenConfig(c *config, sec zmtp.Security, typ zmtp.SocketType, onConn func(*zmtp.Conn)) sock.ListenConfig {
	return sock.ListenConfig{
		ZMTP:             zmtp.Config{Type: typ, MaxMessageSize: c.maxMessageSize, Security: sec},
		HandshakeTimeout: c.handshakeTimeout,
		OnConn:           onConn,
	}
}
