package proxy

import (
	"bytes"
	"strings"
)

// subscription messages (ZMTP 3.0 form; zmtp converts the 3.1 commands).
const (
	subCancel    = 0x00
	subSubscribe = 0x01
)

// parseSubscription decodes a message from a subscriber: one frame,
// 0x01 or 0x00 followed by the prefix.
func parseSubscription(frames [][]byte) (subscribe bool, prefix string, ok bool) {
	if len(frames) != 1 || len(frames[0]) == 0 || frames[0][0] > subSubscribe {
		return false, "", false
	}
	return frames[0][0] == subSubscribe, string(frames[0][1:]), true
}

func subscriptionFrames(subscribe bool, prefix string) [][]byte {
	b := make([]byte, 1+len(prefix))
	if subscribe {
		b[0] = subSubscribe
	}
	copy(b[1:], prefix)
	return [][]byte{b}
}

// subSet is one subscriber's prefixes, each with the number of times
// it was subscribed (ZeroMQ subscriptions nest).
type subSet map[string]int

// add counts prefix and reports whether it is new.
func (s subSet) add(prefix string) bool {
	s[prefix]++
	return s[prefix] == 1
}

// remove uncounts prefix and reports whether it is gone.
func (s subSet) remove(prefix string) bool {
	n, ok := s[prefix]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(s, prefix)
		return true
	}
	s[prefix] = n - 1
	return false
}

func (s subSet) matches(topic []byte) bool {
	for prefix := range s {
		if bytes.HasPrefix(topic, []byte(prefix)) {
			return true
		}
	}
	return false
}

// matchesString is matches for a cached topic.
func (s subSet) matchesString(topic string) bool {
	for prefix := range s {
		if strings.HasPrefix(topic, prefix) {
			return true
		}
	}
	return false
}
