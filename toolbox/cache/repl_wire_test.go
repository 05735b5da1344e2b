package cache

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
)

func sampleUpdates() []update {
	return []update{
		{kind: kindSet, epoch: 7, seq: 1, key: "k", value: []byte("v"), ttl: 1500 * time.Millisecond},
		{kind: kindSet, epoch: 7, seq: 2, key: "empty", value: []byte{}},
		{kind: kindDelete, epoch: 7, seq: 3, key: "k", reason: Expired},
		{kind: kindHeartbeat, epoch: 7, seq: 3, interval: time.Second},
	}
}

func TestUpdateRoundTrip(t *testing.T) {
	for _, u := range sampleUpdates() {
		got, err := decodeUpdate(appendUpdate(nil, u))
		if err != nil {
			t.Fatalf("%+v: %v", u, err)
		}
		if !reflect.DeepEqual(got, u) {
			t.Fatalf("round trip: %+v, want %+v", got, u)
		}
	}
	for name, b := range map[string][]byte{
		"empty":        nil,
		"kind":         appendUpdate(nil, update{kind: 9})[:17],
		"short":        appendUpdate(nil, sampleUpdates()[0])[:20],
		"trailing":     append(appendUpdate(nil, sampleUpdates()[3]), 0),
		"empty key":    appendUpdate(nil, update{kind: kindDelete, reason: Deleted}),
		"reason":       appendUpdate(nil, update{kind: kindDelete, key: "k", reason: 9}),
		"value length": appendUpdate(nil, update{kind: kindSet, key: "k", value: []byte("abc")})[:30],
	} {
		if _, err := decodeUpdate(b); !errors.Is(err, errBadUpdate) {
			t.Errorf("%s: %v, want errBadUpdate", name, err)
		}
	}
}

func snapshotBytes(h snapHeader, recs ...snapRecord) []byte {
	b := appendSnapHeader(nil, h)
	for _, r := range recs {
		b = appendSnapRecord(b, r)
	}
	return b
}

func readSnapshot(b []byte, maxValue int) (snapHeader, []snapRecord, error) {
	sr, h, err := newSnapReader(bytes.NewReader(b), maxValue)
	if err != nil {
		return h, nil, err
	}
	var recs []snapRecord
	for {
		r, err := sr.next()
		if err == io.EOF {
			return h, recs, nil
		}
		if err != nil {
			return h, recs, err
		}
		recs = append(recs, r)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	recs := []snapRecord{{key: "a", version: 3, value: []byte("x")}, {key: "b", version: 9, ttl: time.Minute, value: []byte{}}}
	h := snapHeader{epoch: 5, seq: 9, count: 2}
	gotH, got, err := readSnapshot(snapshotBytes(h, recs...), 10)
	if err != nil || gotH != h || !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip: %+v %+v %v", gotH, got, err)
	}
	full := snapshotBytes(h, recs...)
	for name, b := range map[string][]byte{
		"magic":     append([]byte("XXXX"), full[4:]...),
		"header":    full[:10],
		"cut":       full[:len(full)-1],
		"cut int":   full[:28+2+1+8+3],
		"trailing":  append(full, 1),
		"too large": snapshotBytes(snapHeader{count: 1}, snapRecord{key: "a", value: make([]byte, 11)}),
		"more":      snapshotBytes(snapHeader{count: 3}, recs...),
	} {
		if _, _, err := readSnapshot(b, 10); !errors.Is(err, errBadSnapshot) {
			t.Errorf("%s: %v, want errBadSnapshot", name, err)
		}
	}
}

func FuzzDecodeUpdate(f *testing.F) {
	for _, u := range sampleUpdates() {
		f.Add(appendUpdate(nil, u))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUpdate(b)
		if err != nil {
			return
		}
		if again := appendUpdate(nil, u); !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v re-encodes to %x, not %x", u, again, b)
		}
	})
}

func FuzzSnapshot(f *testing.F) {
	f.Add(snapshotBytes(snapHeader{epoch: 1, seq: 2, count: 1}, snapRecord{key: "k", version: 2, value: []byte("v")}))
	f.Add(snapshotBytes(snapHeader{count: 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := readSnapshot(b, 1<<16)
		if err != nil {
			return
		}
		if again := snapshotBytes(h, recs...); !bytes.Equal(again, b) {
			t.Fatalf("snapshot re-encodes differently")
		}
	})
}
