package core_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// A Python client written from docs/protocol.md §6 uploads to and
// downloads from a stream service, and sees a handler's error.
func TestStreamInteropPython(t *testing.T) {
	requirePython(t)
	for _, tr := range interopTransports {
		t.Run(string(tr), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p, regDir := newInteropPeer(t, ctx, tr)
			opts := []core.StreamOption{core.StreamChunk(65536), core.StreamWindow(3)}
			must(t, p.HandleStream("up", core.StreamHandlerFunc(func(ctx context.Context, r *core.StreamRequest) ([]byte, error) {
				h := sha256.New()
				n, err := io.Copy(h, r.Body)
				return fmt.Appendf(nil, "%s:%d:%x", r.Header, n, h.Sum(nil)), err
			}), opts...))
			must(t, p.HandleStream("down", core.StreamHandlerFunc(func(ctx context.Context, r *core.StreamRequest) ([]byte, error) {
				n, err := strconv.Atoi(string(r.Header))
				if err != nil {
					return nil, core.NewError(core.CodeBadRequest, "%v", err)
				}
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(i % 251)
				}
				_, err = r.Reply.Write(b)
				return nil, err
			}), opts...))
			must(t, p.HandleStream("fail", core.StreamHandlerFunc(func(ctx context.Context, r *core.StreamRequest) ([]byte, error) {
				io.CopyN(io.Discard, r.Body, 1000)
				return nil, core.NewError(1042, "refused")
			}), opts...))
			var out struct {
				UploadReply  string `json:"upload_reply"`
				UploadWant   string `json:"upload_want"`
				UploadChunks int    `json:"upload_chunks"`
				EmptyReply   string `json:"empty_reply"`
				DownloadLen  int    `json:"download_len"`
				DownloadOK   bool   `json:"download_ok"`
				FailCode     int    `json:"fail_code"`
				UnknownCode  int    `json:"unknown_code"`
			}
			runPython(t, "stream_client.py", regDir, &out)
			emptySum := sha256.Sum256(nil)
			switch {
			case out.UploadReply != out.UploadWant || out.UploadChunks != 4:
				t.Errorf("upload: reply %q in %d chunks, want %q in 4", out.UploadReply, out.UploadChunks, out.UploadWant)
			case out.EmptyReply != fmt.Sprintf("empty:0:%x", emptySum):
				t.Errorf("empty upload: reply %q", out.EmptyReply)
			case out.DownloadLen != 5*65536+7 || !out.DownloadOK:
				t.Errorf("download: %d bytes, checksum ok %v", out.DownloadLen, out.DownloadOK)
			case out.FailCode != 1042 || out.UnknownCode != int(core.CodeBadRequest):
				t.Errorf("errors: codes %d and %d, want 1042 and %d", out.FailCode, out.UnknownCode, core.CodeBadRequest)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
