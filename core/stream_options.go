package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Defaults of the stream options.
const (
	DefaultStreamChunk       = 1 << 20 // 1 MiB
	DefaultStreamWindow      = 4       // chunks
	DefaultStreamMax         = 16      // open streams per service
	DefaultStreamMaxPerConn  = 4       // open streams per caller connection
	DefaultStreamIdleTimeout = 30 * time.Second
)

// Bounds of the stream options. A chunk, or a window of chunks in one
// read reply, must fit in a message (DefaultMaxMessageSize); a peer
// with a smaller WithMaxMessageSize needs a smaller chunk or window.
const (
	maxStreamChunk  = 4 << 20
	maxStreamWindow = 64
	// maxStreamBatch bounds one read reply of a download.
	maxStreamBatch = 8 << 20
	// streamPark bounds how long one call of a stream waits on the
	// provider for room, data or the handler's end before it is
	// answered "pending" and asked again: a parked call holds a worker.
	streamPark = time.Second
)

// StreamRequest is one stream as its handler sees it.
type StreamRequest struct {
	Service string
	// Header is the small body of the open: an upload's header or a
	// download's request. It belongs to the handler.
	Header []byte
	// Body reads an upload's bytes, in order, until io.EOF once the
	// caller has sent them all. It returns the context's error when the
	// stream is aborted, reaped or past its deadline. For a download it
	// is at io.EOF at once. The bytes a Read copies out are the
	// handler's; Body may be read by one goroutine at a time.
	Body io.Reader
	// Reply writes a download's bytes. Write blocks while the window of
	// chunks buffered for the caller is full; it copies p, which the
	// handler may reuse when Write returns. For an upload, Write fails
	// with ErrStreamDirection. Reply may be written by one goroutine at
	// a time, and not after the handler returned.
	Reply io.Writer
	// Deadline is when the caller stops waiting for the whole stream;
	// zero if its context had none.
	Deadline time.Time
	// From, User and ClientKey are as in Request.
	From      string
	User      string
	ClientKey Key
}

// StreamHandler serves the streams of one service. It runs on a
// goroutine of its own, not on a request worker, from the open until
// it returns. Its context ends when the stream's deadline passes, the
// caller aborts it, the caller's connection closes, the caller is
// silent for the idle timeout (a caller that hangs), or the peer closes.
//
// For an upload, the bytes it returns are the small reply Upload
// returns; for a download, they are written to the stream after what
// it wrote to Reply. An error ends the stream and reaches the caller
// as a *RemoteError (CodeHandler unless the error is a *RemoteError).
// A panic becomes CodePanic.
type StreamHandler interface {
	ServeStream(ctx context.Context, req *StreamRequest) ([]byte, error)
}

// StreamHandlerFunc adapts a function to StreamHandler.
type StreamHandlerFunc func(ctx context.Context, req *StreamRequest) ([]byte, error)

// ServeStream calls f.
func (f StreamHandlerFunc) ServeStream(ctx context.Context, req *StreamRequest) ([]byte, error) {
	return f(ctx, req)
}

// ErrStreamDirection is returned by writes to an upload's Reply.
var ErrStreamDirection = errors.New("core: an upload's handler answers by its return value, not by Reply")

// StreamOption adjusts one stream service (HandleStream). Repeating an
// option replaces the earlier value.
type StreamOption func(*streamConfig) error

type streamConfig struct {
	chunk, window   int
	max, maxPerConn int
	idle            time.Duration
}

func defaultStreamConfig() streamConfig {
	return streamConfig{
		chunk: DefaultStreamChunk, window: DefaultStreamWindow,
		max: DefaultStreamMax, maxPerConn: DefaultStreamMaxPerConn,
		idle: DefaultStreamIdleTimeout,
	}
}

// StreamChunk sets the largest chunk of a stream in bytes, 1 B to 4 MiB.
// Default: DefaultStreamChunk (1 MiB).
func StreamChunk(bytes int) StreamOption {
	return func(c *streamConfig) error {
		if bytes < 1 || bytes > maxStreamChunk {
			return fmt.Errorf("core: StreamChunk(%d): want 1 to %d bytes", bytes, maxStreamChunk)
		}
		c.chunk = bytes
		return nil
	}
}

// StreamWindow sets how many chunks of one stream may be in flight and
// buffered on the provider, 1 to 64. A stream holds at most window ×
// chunk bytes of body on the provider (twice that for a download while
// a read reply is on its way). Default: DefaultStreamWindow (4).
func StreamWindow(chunks int) StreamOption {
	return func(c *streamConfig) error {
		if chunks < 1 || chunks > maxStreamWindow {
			return fmt.Errorf("core: StreamWindow(%d): want 1 to %d chunks", chunks, maxStreamWindow)
		}
		c.window = chunks
		return nil
	}
}

// StreamLimits bounds the streams of the service open at once: in all,
// and per caller connection. Opens beyond them are refused with
// CodeOverloaded. Defaults: DefaultStreamMax (16) and
// DefaultStreamMaxPerConn (4).
func StreamLimits(total, perConn int) StreamOption {
	return func(c *streamConfig) error {
		if total < 1 || perConn < 1 || perConn > total {
			return fmt.Errorf("core: StreamLimits(%d, %d): want 1 <= perConn <= total", total, perConn)
		}
		c.max, c.maxPerConn = total, perConn
		return nil
	}
}

// StreamIdleTimeout sets how long a stream may go without a call from
// its caller before it is aborted and its memory freed (a caller that
// died or vanished); at least 100 ms. Default:
// DefaultStreamIdleTimeout (30 s).
func StreamIdleTimeout(d time.Duration) StreamOption {
	return func(c *streamConfig) error {
		if d < 100*time.Millisecond {
			return fmt.Errorf("core: StreamIdleTimeout(%v): want at least 100ms", d)
		}
		c.idle = d
		return nil
	}
}

func buildStreamConfig(opts []StreamOption) (streamConfig, error) {
	c := defaultStreamConfig()
	var errs []error
	for _, o := range opts {
		if o == nil {
			errs = append(errs, errors.New("core: nil StreamOption"))
			continue
		}
		errs = append(errs, o(&c))
	}
	if c.window*c.chunk > maxStreamBatch {
		errs = append(errs, fmt.Errorf("core: a window of %d chunks of %d bytes exceeds %d bytes", c.window, c.chunk, maxStreamBatch))
	}
	return c, errors.Join(errs...)
}
