package core

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// BenchmarkStream moves 64 MiB of zeros per op each way, over tcp and
// ipc, between two peers of this process; b.SetBytes makes `go test
// -bench` report MB/s.
func BenchmarkStream(b *testing.B) {
	const size = 64 << 20
	for _, tr := range testTransports {
		for _, dir := range []string{"upload", "download"} {
			b.Run(string(tr)+"/"+dir, func(b *testing.B) {
				_, cli := benchStreamPeers(b, tr)
				ctx := context.Background()
				b.SetBytes(size)
				b.ResetTimer()
				for range b.N {
					if dir == "upload" {
						if _, err := cli.Upload(ctx, "sink", nil, io.LimitReader(zeroReader{}, size)); err != nil {
							b.Fatal(err)
						}
						continue
					}
					rc, err := cli.Download(ctx, "source", nil)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
						b.Fatalf("%d bytes, %v", n, err)
					}
					rc.Close()
				}
			})
		}
	}
}

func benchStreamPeers(b *testing.B, tr Transport) (srv, cli *Peer) {
	b.Helper()
	dir := b.TempDir()
	reg, err := NewDirRegistry(dir)
	if err != nil {
		b.Fatal(err)
	}
	run, err := os.MkdirTemp("", "zb") // socket paths must be short
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(run) })
	opts := []Option{WithRegistry(reg), WithTransport(tr), WithRuntimeDir(run)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if srv, err = NewPeer(ctx, "bench-streamer", opts...); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	if cli, err = NewPeer(ctx, "bench-caller", opts...); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	sink := StreamHandlerFunc(func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		_, err := io.Copy(io.Discard, r.Body)
		return nil, err
	})
	source := StreamHandlerFunc(func(ctx context.Context, r *StreamRequest) ([]byte, error) {
		_, err := io.Copy(r.Reply, io.LimitReader(zeroReader{}, 64<<20))
		return nil, err
	})
	if err := srv.HandleStream("sink", sink); err != nil {
		b.Fatal(err)
	}
	if err := srv.HandleStream("source", source); err != nil {
		b.Fatal(err)
	}
	return srv, cli
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
