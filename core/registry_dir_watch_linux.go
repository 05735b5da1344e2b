//go:build linux

package core

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// dirWatchMask are the inotify events that may change the entries of a
// registry directory: entry files are renamed into place or removed.
const dirWatchMask = syscall.IN_CREATE | syscall.IN_CLOSE_WRITE | syscall.IN_MOVED_TO |
	syscall.IN_MOVED_FROM | syscall.IN_DELETE | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF

// dirWatchBreak are the events after which the watched directory is
// gone or moved: the watch ends.
const dirWatchBreak = syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF | syscall.IN_IGNORED | syscall.IN_UNMOUNT

// Watch implements RegistryWatcher with inotify on the directory. A
// change of an entry file is pushed at once; entries whose lease
// expires are pushed when it does, and those of processes that exited
// (which no file event announces) within dirWatchPoll. The watch breaks
// when the directory is removed or renamed.
func (r *DirRegistry) Watch(ctx context.Context) (<-chan []NodeInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return nil, fmt.Errorf("core: registry watch: %w", err)
	}
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("core: registry watch: inotify: %w", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, r.dir, dirWatchMask); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("core: registry watch %s: %w", r.dir, err)
	}
	// Non-blocking, so the runtime poller waits for it and Close ends
	// a pending Read.
	f := os.NewFile(uintptr(fd), "inotify:"+r.dir)
	wake := make(chan struct{}, 1)
	broken := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(broken)
		dirReadEvents(f, wake)
	}()
	feed := newWatchFeed()
	go func() {
		defer close(feed.ch)
		runWatch(ctx, feed, r.Nodes, wake, broken, dirWatchPoll)
		f.Close()
		<-readerDone
	}()
	return feed.ch, nil
}

// dirReadEvents reads inotify events from f and wakes the watch for
// those about entry files (and for a queue overflow), until f fails or
// is closed or the directory goes.
func dirReadEvents(f *os.File, wake chan<- struct{}) {
	buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		relevant, gone := dirParseEvents(buf[:n])
		if relevant {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		if gone {
			return
		}
	}
}

// dirParseEvents walks a buffer of inotify events. relevant reports an
// event about an entry file or a lost event queue; gone, the end of the
// watched directory.
func dirParseEvents(b []byte) (relevant, gone bool) {
	for len(b) >= syscall.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		end := syscall.SizeofInotifyEvent + nameLen
		if end > len(b) {
			return relevant, gone
		}
		name := string(bytes.TrimRight(b[syscall.SizeofInotifyEvent:end], "\x00"))
		b = b[end:]
		switch {
		case mask&dirWatchBreak != 0:
			gone = true
		case mask&syscall.IN_Q_OVERFLOW != 0:
			relevant = true
		case strings.HasSuffix(name, dirEntrySuffix):
			relevant = true
		}
	}
	return relevant, gone
}
