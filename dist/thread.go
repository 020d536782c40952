package dist

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// thread runs calls into a C library on one OS thread, locked for the
// process's life (MPI_THREAD_FUNNELED wants every call on the thread that
// initialized MPI; CUDA keeps the current context per thread). The caller
// waits for each call up to the timeout: the C calls have none of their
// own.
type thread struct {
	calls   chan func()
	timeout time.Duration
	who     string // "rank 1 of 2", for messages

	mu     sync.Mutex // one call at a time
	stuck  error      // the call that timed out: the thread is still in it
	closed bool
}

func newThread(timeout time.Duration) *thread {
	t := &thread{calls: make(chan func()), timeout: timeout}
	go func() {
		runtime.LockOSThread()
		for f := range t.calls {
			f()
		}
	}()
	return t
}

// run runs f on the thread and waits up to the timeout for it. After a
// timeout the thread is still inside f, so every later call fails too.
func (t *thread) run(what string, f func()) error { return t.runWithin(what, t.timeout, f) }

// runWithin is run with another wait, for a call that keeps the timeout
// itself and needs a moment more to report it.
func (t *thread) runWithin(what string, wait time.Duration, f func()) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stuck != nil {
		return t.stuck
	}
	if t.closed {
		return fmt.Errorf("dist: %s after Close", what)
	}
	done := make(chan struct{})
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case t.calls <- func() { f(); close(done) }:
	case <-timer.C:
		t.stuck = t.timedOut(what)
		return t.stuck
	}
	select {
	case <-done:
		return nil
	case <-timer.C:
		t.stuck = t.timedOut(what)
		return t.stuck
	}
}

func (t *thread) timedOut(what string) error {
	return fmt.Errorf("dist: %s: %s: %w: no answer from the other ranks within %v; one of them died, hangs or fell out of step (its own output says which)",
		t.who, what, ErrTimeout, t.timeout)
}

// idle reports whether the thread can take a call now (none in progress,
// none stuck, not closed), and if so keeps it: the caller, Abort, sends
// its last call and the process ends.
func (t *thread) idle() bool {
	if !t.mu.TryLock() {
		return false
	}
	if t.stuck != nil || t.closed {
		t.mu.Unlock()
		return false
	}
	return true
}

// close ends the thread's use: later calls fail.
func (t *thread) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
}
