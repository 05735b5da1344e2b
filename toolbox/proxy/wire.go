package proxy

import "bytes"

// Paranoid Pirate worker commands: one frame of one byte.
const (
	ppReady     = 0x01
	ppHeartbeat = 0x02
)

// Majordomo (MDP/0.1) protocol headers and worker commands.
var (
	mdpClient = []byte("MDPC01")
	mdpWorker = []byte("MDPW01")
)

const (
	mdpReady      = 0x01
	mdpRequest    = 0x02
	mdpReply      = 0x03
	mdpHeartbeat  = 0x04
	mdpDisconnect = 0x05
)

// mmiPrefix starts the broker's own services (Majordomo Management Interface).
const mmiPrefix = "mmi."

// MMI answers.
var (
	mmiFound       = []byte("200")
	mmiNotFound    = []byte("404")
	mmiUnsupported = []byte("501")
)

// maxEnvelope bounds the frames before the empty delimiter of a request.
const maxEnvelope = defaultMaxEnvelopeFrames

// splitEnvelope splits frames at the first empty frame: env holds the
// frames up to and including it, body the rest (at least one frame).
func splitEnvelope(frames [][]byte) (env, body [][]byte, ok bool) {
	for i, f := range frames {
		if i >= maxEnvelope {
			break
		}
		if len(f) == 0 {
			if i+1 >= len(frames) {
				return nil, nil, false
			}
			return frames[:i+1], frames[i+1:], true
		}
	}
	return nil, nil, false
}

func isCommand(frames [][]byte, cmd byte) bool {
	return len(frames) == 1 && len(frames[0]) == 1 && frames[0][0] == cmd
}

// validService reports whether name can be a service name.
func validService(name []byte) bool { return len(name) > 0 && len(name) <= 255 }

// mdpMessage is a decoded Majordomo message.
type mdpMessage struct {
	client  bool // MDPC01 rather than MDPW01
	command byte // worker messages
	service string
	id      uint64
	body    [][]byte
}

// parseMDP decodes a message a broker receives: a client request
// ["", "MDPC01", service, body...] or a worker command
// ["", "MDPW01", command, ...].
func parseMDP(frames [][]byte) (mdpMessage, bool) {
	if len(frames) < 3 || len(frames[0]) != 0 {
		return mdpMessage{}, false
	}
	switch {
	case bytes.Equal(frames[1], mdpClient):
		if !validService(frames[2]) {
			return mdpMessage{}, false
		}
		return mdpMessage{client: true, service: string(frames[2]), body: frames[3:]}, true
	case bytes.Equal(frames[1], mdpWorker):
		return parseMDPWorker(frames)
	}
	return mdpMessage{}, false
}

func parseMDPWorker(frames [][]byte) (mdpMessage, bool) {
	if len(frames[2]) != 1 {
		return mdpMessage{}, false
	}
	m := mdpMessage{command: frames[2][0]}
	switch m.command {
	case mdpReady:
		if len(frames) != 4 || !validService(frames[3]) {
			return mdpMessage{}, false
		}
		m.service = string(frames[3])
	case mdpReply:
		id, ok := parseIDFrames(frames)
		if !ok {
			return mdpMessage{}, false
		}
		m.id, m.body = id, frames[5:]
	case mdpHeartbeat, mdpDisconnect:
		if len(frames) != 3 {
			return mdpMessage{}, false
		}
	default:
		return mdpMessage{}, false
	}
	return m, true
}

// parseIDFrames reads [.., .., cmd, id, "", body...].
func parseIDFrames(frames [][]byte) (uint64, bool) {
	if len(frames) < 5 || len(frames[4]) != 0 {
		return 0, false
	}
	return parseID(frames[3])
}

func mdpWorkerFrames(cmd byte, rest ...[]byte) [][]byte {
	return append([][]byte{{}, mdpWorker, {cmd}}, rest...)
}

func mdpClientFrames(service string, body [][]byte) [][]byte {
	m := make([][]byte, 0, 3+len(body))
	return append(append(m, []byte{}, mdpClient, []byte(service)), body...)
}
