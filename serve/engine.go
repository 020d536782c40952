package serve

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"

	"github.com/tune-dev/tune/decoder"
)

// errShutdown ends the requests still running or queued when the server
// stops waiting for them.
var errShutdown = errors.New("the server is shutting down")

// job is one request's sequence on its way through the engine.
type job struct {
	ctx    context.Context // cancelled when the client leaves or a stop sequence matched
	seq    *decoder.Sequence
	model  *model
	events chan event // room for every token and the end: the engine never waits on a client
}

// event is one new token, or the end of the job (end set).
type event struct {
	id     int32
	end    bool
	finish decoder.Finish
	tokens int // new tokens generated, at the end
	err    error
}

// engine owns the model: one goroutine runs every pass, adapter upload
// and release, so the backend is never used from two goroutines.
// Requests wait in submit (its capacity is the queue bound) until a slot
// is free; each decode step runs every admitted sequence.
type engine struct {
	m       *decoder.Model
	b       *decoder.Batcher
	submit  chan *job
	cmds    chan func()
	quit    chan struct{}
	done    chan struct{}
	running map[*decoder.Sequence]*job
	reg     *registry

	active atomic.Int64 // sequences in the batch, for /health
	// ended, when set (tests), sees every job the engine ends, after its
	// slot is free.
	ended func(*job)
}

func newEngine(m *decoder.Model, b *decoder.Batcher, queue int, reg *registry) *engine {
	e := &engine{m: m, b: b, submit: make(chan *job, queue), cmds: make(chan func()), quit: make(chan struct{}),
		done: make(chan struct{}), running: map[*decoder.Sequence]*job{}, reg: reg}
	go e.loop()
	return e
}

// do runs f on the engine's goroutine and waits for it; false when the
// engine has stopped.
func (e *engine) do(f func()) bool {
	ran := make(chan struct{})
	select {
	case e.cmds <- func() { f(); close(ran) }:
		<-ran
		return true
	case <-e.done:
		return false
	}
}

// freeAdapter releases dev's factors on the engine's goroutine (nothing,
// once the engine has stopped).
func (e *engine) freeAdapter(dev *decoder.DeviceAdapter) {
	e.do(func() { e.m.FreeAdapter(dev) })
}

// shuttingDown is the answer to a request that comes once the engine is
// stopping.
func shuttingDown() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, typ: serverError, message: errShutdown.Error()}
}

// stop ends every running and queued job with errShutdown and waits for
// the engine's goroutine to return.
func (e *engine) stop() {
	select {
	case <-e.quit:
	default:
		close(e.quit)
	}
	<-e.done
}

func (e *engine) loop() {
	defer close(e.done)
	for {
		// Admit queued requests while slots are free; wait for one only
		// when nothing runs.
		for e.b.FreeSlots() > 0 {
			var j *job
			if len(e.running) == 0 {
				select {
				case j = <-e.submit:
				case f := <-e.cmds:
					f()
					continue
				case <-e.quit:
					e.shutdown()
					return
				}
			} else {
				select {
				case j = <-e.submit:
				default:
				}
			}
			if j == nil {
				break
			}
			e.start(j)
		}
		select {
		case f := <-e.cmds:
			f()
		case <-e.quit:
			e.shutdown()
			return
		default:
		}
		// A client that left frees its slot before the next pass.
		for s, j := range e.running {
			if j.ctx.Err() != nil {
				e.b.Remove(s)
			}
		}
		e.reap()
		e.b.Step()
		e.reap()
	}
}

// start prefills j's prompt and chooses its first token.
func (e *engine) start(j *job) {
	if j.ctx.Err() != nil { // the client left while queued
		e.finish(j, decoder.FinishRemoved, 0, j.ctx.Err())
		return
	}
	j.seq.Adapter = j.model.dev
	j.seq.OnToken = func(id int32) bool {
		j.events <- event{id: id}
		return j.ctx.Err() == nil
	}
	if err := e.b.Add(j.seq); err != nil {
		e.finish(j, decoder.FinishError, 0, err)
		return
	}
	e.running[j.seq] = j
	e.active.Store(int64(len(e.running)))
	e.reap()
}

// reap ends the jobs whose sequences ended.
func (e *engine) reap() {
	for s, j := range e.running {
		if f := s.Finish(); f != decoder.Running {
			delete(e.running, s)
			e.finish(j, f, len(s.Tokens()), s.Err())
		}
	}
	e.active.Store(int64(len(e.running)))
}

// finish sends j's end and releases its hold on its adapter.
func (e *engine) finish(j *job, f decoder.Finish, tokens int, err error) {
	j.events <- event{end: true, finish: f, tokens: tokens, err: err}
	if e.reg.release(j.model) {
		e.m.FreeAdapter(j.model.dev)
	}
	if e.ended != nil {
		e.ended(j)
	}
}

// shutdown ends every running and queued job with errShutdown.
func (e *engine) shutdown() {
	for s, j := range e.running {
		e.b.Remove(s)
		delete(e.running, s)
		e.finish(j, decoder.FinishRemoved, len(s.Tokens()), errShutdown)
	}
	e.active.Store(0)
	for {
		select {
		case j := <-e.submit:
			e.finish(j, decoder.FinishRemoved, 0, errShutdown)
		default:
			return
		}
	}
}
