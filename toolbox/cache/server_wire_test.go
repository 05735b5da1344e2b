package cache

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestOpsWireRoundTrip(t *testing.T) {
	for _, cas := range []bool{false, true} {
		for _, q := range []opRequest{
			{key: "k", value: []byte("v")},
			{key: "k", version: 9, ttl: 1500 * time.Millisecond, value: []byte{}},
			{key: "k", ttl: NoExpiry, value: []byte("x")},
		} {
			if !cas {
				q.version = 0
			}
			got, err := decodeSetRequest(appendSetRequest(nil, q, cas), cas)
			if err != nil || !reflect.DeepEqual(got, q) {
				t.Errorf("cas %v: %+v round trips to %+v, %v", cas, q, got, err)
			}
		}
	}
	if got, _ := decodeSetRequest(appendSetRequest(nil, opRequest{key: "k", ttl: time.Microsecond, value: []byte{}}, false), false); got.ttl != time.Millisecond {
		t.Errorf("a sub-millisecond ttl is rounded to %v, want 1ms", got.ttl)
	}
	if got, _ := decodeSetRequest(appendSetRequest(nil, opRequest{key: "k", ttl: 2 * maxWireTTL, value: []byte{}}, false), false); got.ttl != maxWireTTL {
		t.Errorf("a ttl above a century is capped to %v", got.ttl)
	}
	for _, g := range []getReply{{}, {found: true, version: 3, ttl: time.Second, value: []byte("v")}, {found: true, version: 1, value: []byte{}}} {
		got, err := decodeGetReply(appendGetReply(nil, g))
		if err != nil || !reflect.DeepEqual(got, g) {
			t.Errorf("%+v round trips to %+v, %v", g, got, err)
		}
	}
	if v, err := decodeVersionReply(appendVersionReply(nil, 77)); v != 77 || err != nil {
		t.Errorf("version reply: %d %v", v, err)
	}
	for _, d := range []bool{false, true} {
		if got, err := decodeDelReply(appendDelReply(nil, d)); got != d || err != nil {
			t.Errorf("del reply %v: %v %v", d, got, err)
		}
	}
	if k, err := decodeKeyRequest(appendKeyRequest(nil, "key")); k != "key" || err != nil {
		t.Errorf("key request: %q %v", k, err)
	}
	for name, err := range map[string]error{
		"get reply flag":   second(decodeGetReply([]byte{2})),
		"get reply cut":    second(decodeGetReply(appendGetReply(nil, getReply{found: true, value: []byte("v")})[:10])),
		"version short":    second(decodeVersionReply([]byte{1, 2})),
		"del reply flag":   second(decodeDelReply([]byte{2})),
		"del reply extra":  second(decodeDelReply([]byte{1, 0})),
		"key request long": second(decodeKeyRequest(append([]byte{0x10, 0x01}, bytes.Repeat([]byte("k"), MaxKeyLen+1)...))),
	} {
		if !errors.Is(err, errBadOp) {
			t.Errorf("%s: %v, want errBadOp", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// Each decoder accepts what its encoder writes, and re-encoding what it
// accepts gives the same bytes; no input makes it panic.

func FuzzDecodeKeyRequest(f *testing.F) {
	f.Add(appendKeyRequest(nil, "k"))
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := decodeKeyRequest(b)
		if err == nil && !bytes.Equal(appendKeyRequest(nil, key), b) {
			t.Fatalf("%q re-encodes differently", b)
		}
	})
}

func FuzzDecodeSetRequest(f *testing.F) {
	for _, cas := range []bool{false, true} {
		f.Add(appendSetRequest(nil, opRequest{key: "k", version: 3, ttl: time.Second, value: []byte("v")}, cas), cas)
		f.Add(appendSetRequest(nil, opRequest{key: "k", ttl: NoExpiry}, cas), cas)
	}
	f.Fuzz(func(t *testing.T, b []byte, cas bool) {
		q, err := decodeSetRequest(b, cas)
		if err != nil {
			return
		}
		if checkKey(q.key) != nil || (q.ttl < 0 && q.ttl != NoExpiry) || q.ttl > maxWireTTL {
			t.Fatalf("%q decoded to a bad request %+v", b, q)
		}
		if !bytes.Equal(appendSetRequest(nil, q, cas), b) {
			t.Fatalf("%q re-encodes differently", b)
		}
	})
}

func FuzzDecodeGetReply(f *testing.F) {
	f.Add(appendGetReply(nil, getReply{}))
	f.Add(appendGetReply(nil, getReply{found: true, version: 2, ttl: time.Second, value: []byte("v")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := decodeGetReply(b)
		if err == nil && !bytes.Equal(appendGetReply(nil, g), b) {
			t.Fatalf("%q re-encodes differently", b)
		}
	})
}

func FuzzDecodeVersionReply(f *testing.F) {
	f.Add(appendVersionReply(nil, 5))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeVersionReply(b)
		if (err == nil) != (len(b) == 8) || (err == nil && !bytes.Equal(appendVersionReply(nil, v), b)) {
			t.Fatalf("%q: %d %v", b, v, err)
		}
	})
}

func FuzzDecodeDelReply(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDelReply(b)
		if err == nil && !bytes.Equal(appendDelReply(nil, d), b) {
			t.Fatalf("%q re-encodes differently", b)
		}
	})
}
