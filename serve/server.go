package serve

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// Config is what a Server serves and its limits.
type Config struct {
	Model     *decoder.Model
	Tokenizer *tokenizer.Tokenizer
	// BaseName is the base model's name in requests; BaseSystem the
	// system turn of its chats that have none.
	BaseName, BaseSystem string
	// Gen holds the defaults of every request (the model folder's
	// generation_config.json and eos ids); a request's fields override
	// them.
	Gen decoder.GenerationConfig
	// Adapters are served from the start, by name.
	Adapters map[string]*lora.Adapter
	// SystemPrompt gives the system turn of an adapter's chats that have
	// none.
	SystemPrompt func(a *lora.Adapter) string
	// MaxBatch sequences decode together, each of up to MaxContext
	// positions; MaxQueue requests wait for a slot beyond them (429
	// past that); MaxTokens caps a request's max_tokens.
	MaxBatch, MaxContext, MaxQueue, MaxTokens int
	// MaxBody is the largest request body, in bytes.
	MaxBody int64
	// APIKey, when set, is required as "Authorization: Bearer APIKey".
	APIKey string
	// AdapterRoot, when set, lets POST /v1/adapters load folders under
	// it (resolved); empty turns that endpoint off.
	AdapterRoot string
	// Seed seeds the seeds of requests that give none.
	Seed uint64
	// ShutdownTimeout is how long Serve waits for running requests after
	// its context ends before cancelling them.
	ShutdownTimeout time.Duration
}

// Server is an OpenAI-compatible HTTP API over one base model and its
// adapters.
type Server struct {
	cfg     Config
	reg     *registry
	eng     *engine
	batcher *decoder.Batcher
	mux     *http.ServeMux
	root    string // AdapterRoot, resolved

	mu      sync.Mutex
	seeds   *rand.Rand
	ids     atomic.Uint64
	started int64
}

// New uploads the adapters and starts the engine; Close stops it.
func New(cfg Config) (*Server, error) {
	m := cfg.Model
	if cfg.MaxBatch < 1 || cfg.MaxContext < 2 || cfg.MaxQueue < 0 || cfg.MaxTokens < 1 || cfg.MaxBody < 1 {
		return nil, fmt.Errorf("serve: limits out of range: max_batch %d, max_context %d, max_queue %d, max_tokens %d, max_body %d",
			cfg.MaxBatch, cfg.MaxContext, cfg.MaxQueue, cfg.MaxTokens, cfg.MaxBody)
	}
	if cfg.MaxContext > m.Config.MaxPositionEmbeddings {
		return nil, fmt.Errorf("serve: --max_context %d exceeds the model's max_position_embeddings %d", cfg.MaxContext, m.Config.MaxPositionEmbeddings)
	}
	s := &Server{cfg: cfg, reg: newRegistry(cfg.BaseName, cfg.BaseSystem), mux: http.NewServeMux(),
		seeds: rand.New(rand.NewPCG(cfg.Seed, 0x73657276)), started: time.Now().Unix()}
	if cfg.AdapterRoot != "" {
		root, err := filepath.Abs(cfg.AdapterRoot)
		if err == nil {
			root, err = filepath.EvalSymlinks(root)
		}
		if err != nil {
			return nil, fmt.Errorf("serve: --adapter_root: %w", err)
		}
		s.root = root
	}
	for name, a := range cfg.Adapters {
		if _, err := s.reg.add(name, m.UploadAdapter(a), cfg.SystemPrompt(a)); err != nil {
			return nil, fmt.Errorf("serve: --adapter %s: %s", name, err.message)
		}
	}
	s.batcher = m.NewBatcher(cfg.MaxBatch, cfg.MaxContext)
	s.eng = newEngine(m, s.batcher, cfg.MaxQueue, s.reg)
	s.routes()
	return s, nil
}

// Close cancels what still runs, stops the engine and frees the batch's
// cache and the adapters.
func (s *Server) Close() {
	s.eng.stop()
	s.batcher.Close()
	for _, md := range s.reg.list() {
		if md.dev != nil {
			s.cfg.Model.FreeAdapter(md.dev)
		}
	}
}

// Handler is the API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops
// accepting connections, lets running and queued requests finish for up to
// ShutdownTimeout, then cancels the rest (they end with an error saying
// the server is shutting down). It does not Close the server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 30 * time.Second}
	failed := make(chan error, 1)
	go func() { failed <- hs.Serve(ln) }()
	select {
	case err := <-failed:
		return err
	case <-ctx.Done():
	}
	wait, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(wait)
	if errors.Is(err, context.DeadlineExceeded) {
		s.eng.stop() // ends what still runs, so its handlers return
		err = hs.Shutdown(context.Background())
	}
	<-failed // http.ErrServerClosed
	return err
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /v1/models", s.auth(s.models))
	s.mux.HandleFunc("POST /v1/chat/completions", s.auth(s.chat))
	s.mux.HandleFunc("POST /v1/completions", s.auth(s.completions))
	s.mux.HandleFunc("POST /v1/adapters", s.auth(s.addAdapter))
	s.mux.HandleFunc("DELETE /v1/adapters/{name}", s.auth(s.deleteAdapter))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, typ: invalidRequest, code: "unknown_url",
			message: fmt.Sprintf("unknown endpoint %s %s (see GET /v1/models, POST /v1/chat/completions, POST /v1/completions)", r.Method, r.URL.Path)})
	})
}

// auth requires the API key, when one is set, and limits the body.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if key := s.cfg.APIKey; key != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(key)) != 1 {
				writeError(w, &apiError{status: http.StatusUnauthorized, typ: invalidRequest, code: "invalid_api_key",
					message: "missing or wrong API key: send the header Authorization: Bearer <key>"})
				return
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
		h(w, r)
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "running": s.eng.active.Load(), "queued": len(s.eng.submit)})
}

func modelJSON(md *model) map[string]any {
	return map[string]any{"id": md.name, "object": "model", "created": md.created, "owned_by": "tune"}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	var data []map[string]any
	for _, md := range s.reg.list() {
		data = append(data, modelJSON(md))
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	var req chatRequest
	if !readRequest(w, r, &req, &req.sampling) {
		return
	}
	if len(req.Tools) > 0 {
		writeError(w, badRequest("tools", "tools are not supported"))
		return
	}
	if len(req.Messages) == 0 {
		writeError(w, badRequest("messages", "messages must hold at least one message"))
		return
	}
	turns := make([]tokenizer.Message, 0, len(req.Messages)+1)
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant":
		case "developer": // OpenAI's newer name for the system role
			m.Role = "system"
		default:
			writeError(w, badRequest(fmt.Sprintf("messages.%d.role", i), "messages[%d].role %q: want system, user or assistant", i, m.Role))
			return
		}
		if !m.Content.set {
			writeError(w, badRequest(fmt.Sprintf("messages.%d.content", i), "messages[%d] has no content", i))
			return
		}
		turns = append(turns, tokenizer.Message{Role: m.Role, Content: m.Content.text})
	}
	md, aerr := s.reg.acquire(req.Model)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if turns[0].Role != "system" {
		turns = append([]tokenizer.Message{{Role: "system", Content: md.system}}, turns...)
	}
	s.generate(w, r, md, &req.sampling, s.cfg.Tokenizer.ApplyChatTemplate(turns, true), true, "messages")
}

// readRequest decodes the body into req and checks its sampling fields s,
// answering the error itself when there is one.
func readRequest(w http.ResponseWriter, r *http.Request, req any, s *sampling) bool {
	err := decodeBody(r, req)
	if err == nil {
		err = s.check()
	}
	if err != nil {
		writeError(w, err)
		return false
	}
	return true
}

// defaultCompletionTokens is max_tokens of a completion that gives none,
// as in OpenAI's completions API.
const defaultCompletionTokens = 16

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	var req completionRequest
	if !readRequest(w, r, &req, &req.sampling) {
		return
	}
	switch {
	case !req.Prompt.set || req.Prompt.text == "":
		writeError(w, badRequest("prompt", "prompt must be a non-empty string"))
		return
	case req.Echo:
		writeError(w, badRequest("echo", "echo is not supported"))
		return
	case req.Suffix != nil:
		writeError(w, badRequest("suffix", "suffix is not supported"))
		return
	}
	if req.maxTokens() == nil {
		n := defaultCompletionTokens
		req.MaxTokens = &n
	}
	md, aerr := s.reg.acquire(req.Model)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	s.generate(w, r, md, &req.sampling, req.Prompt.text, false, "prompt")
}

// generate runs one request on model md (whose reference it holds) and
// answers it, streamed or whole. chat picks the chat response shapes;
// field names the prompt's field for errors.
func (s *Server) generate(w http.ResponseWriter, r *http.Request, md *model, req *sampling, text string, chat bool, field string) {
	held := true
	defer func() {
		if held && s.reg.release(md) { // the engine never saw the request
			s.eng.freeAdapter(md.dev)
		}
	}()
	ids := s.cfg.Tokenizer.Encode(text)
	prompt := make([]int32, len(ids))
	for i, id := range ids {
		prompt[i] = int32(id)
	}
	g, aerr := s.settings(req, len(prompt), field)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	j := &job{ctx: ctx, seq: &decoder.Sequence{Prompt: prompt, Gen: g}, model: md, events: make(chan event, g.MaxNewTokens+1)}
	select {
	case s.eng.submit <- j:
		held = false
	case <-s.eng.quit:
		writeError(w, shuttingDown())
		return
	default:
		writeError(w, &apiError{status: http.StatusTooManyRequests, typ: "requests", code: "rate_limit_exceeded",
			message: fmt.Sprintf("the server is busy: its %d batch slots are taken and %d requests wait (--max_batch, --max_queue); retry later",
				s.cfg.MaxBatch, s.cfg.MaxQueue)})
		return
	}
	res := response{s: s, w: w, client: r.Context(), chat: chat, model: md.name, id: s.newID(chat), created: time.Now().Unix(),
		prompt: len(prompt), ans: newAnswer(s.cfg.Tokenizer, req.Stop), stream: req.Stream,
		usage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage}
	res.run(j, cancel)
}

// settings turns a request's fields into generation settings for a
// prompt of n tokens, or a 400.
func (s *Server) settings(req *sampling, n int, field string) (decoder.GenerationConfig, *apiError) {
	g := s.cfg.Gen
	room := s.cfg.MaxContext - n
	if room < 1 {
		return g, &apiError{status: 400, typ: invalidRequest, param: field, code: "context_length_exceeded",
			message: fmt.Sprintf("the prompt is %d tokens; this server's context is %d tokens (--max_context), prompt and answer together", n, s.cfg.MaxContext)}
	}
	g.MaxNewTokens = min(s.cfg.MaxTokens, room)
	if mt := req.maxTokens(); mt != nil {
		want := min(*mt, s.cfg.MaxTokens) // capped by --max_tokens
		if want > room {
			return g, &apiError{status: 400, typ: invalidRequest, param: "max_tokens", code: "context_length_exceeded",
				message: fmt.Sprintf("the prompt is %d tokens and max_tokens asks for %d more; this server's context is %d tokens (--max_context)", n, want, s.cfg.MaxContext)}
		}
		g.MaxNewTokens = want
	}
	if t := req.Temperature; t != nil {
		g.DoSample = *t > 0
		if g.DoSample {
			g.Temperature = *t
		}
	}
	if req.TopP != nil {
		g.TopP = *req.TopP
	}
	if req.TopK != nil {
		g.TopK = *req.TopK
	}
	if req.RepetitionPenalty != nil {
		g.RepetitionPenalty = *req.RepetitionPenalty
	}
	if req.Seed != nil {
		g.Seed = uint64(*req.Seed)
	} else {
		s.mu.Lock()
		g.Seed = s.seeds.Uint64()
		s.mu.Unlock()
	}
	if err := g.Validate(); err != nil {
		return g, badRequest("", "%v", err)
	}
	return g, nil
}

func (s *Server) newID(chat bool) string {
	kind := "cmpl"
	if chat {
		kind = "chatcmpl"
	}
	return fmt.Sprintf("%s-%x%06d", kind, s.started, s.ids.Add(1))
}

// response writes one request's answer.
type response struct {
	s             *Server
	w             http.ResponseWriter
	client        context.Context // ends when the client leaves
	chat, stream  bool
	usage         bool // stream_options.include_usage
	model, id     string
	created       int64
	prompt        int
	ans           *answer
	headerWritten bool
}

// run reads j's events until its end and writes the answer; a matched
// stop sequence cancels the job so its slot frees at once.
func (res *response) run(j *job, cancel context.CancelFunc) {
	for {
		var ev event
		select {
		case ev = <-j.events:
		case <-res.s.eng.done:
			select { // the engine may have ended j before it stopped
			case ev = <-j.events:
			default:
				ev = event{end: true, finish: decoder.FinishRemoved, err: errShutdown}
			}
		}
		if !ev.end {
			if res.ans.add(ev.id) {
				cancel()
			}
			if res.stream {
				res.chunk(res.ans.ready(false), "")
			}
			continue
		}
		res.end(ev)
		return
	}
}

// end writes the end of the answer for the job's last event.
func (res *response) end(ev event) {
	if res.client.Err() != nil {
		return // the client left: nobody to answer
	}
	if ev.err != nil {
		e := &apiError{status: http.StatusInternalServerError, typ: serverError, message: ev.err.Error()}
		switch {
		case errors.Is(ev.err, errShutdown):
			e = shuttingDown()
		case ev.finish == decoder.FinishError:
			e.message = "generation failed: " + ev.err.Error()
		}
		if res.stream && res.headerWritten {
			res.event(map[string]any{"error": map[string]any{"message": e.message, "type": e.typ, "param": nil, "code": nil}})
			res.done()
			return
		}
		writeError(res.w, e)
		return
	}
	res.ans.flush()
	reason := finishStop
	if ev.finish == decoder.FinishLength && !res.ans.stopped {
		reason = finishLength
	}
	u := usage{PromptTokens: res.prompt, CompletionTokens: ev.tokens, TotalTokens: res.prompt + ev.tokens}
	if !res.stream {
		choice := map[string]any{"index": 0, "finish_reason": reason, "logprobs": nil}
		if res.chat {
			choice["message"] = map[string]any{"role": "assistant", "content": res.ans.text}
		} else {
			choice["text"] = res.ans.text
		}
		writeJSON(res.w, http.StatusOK, res.object(map[string]any{"choices": []any{choice}, "usage": u}))
		return
	}
	res.chunk(res.ans.ready(true), reason)
	if res.usage {
		res.event(res.object(map[string]any{"choices": []any{}, "usage": u}))
	}
	res.done()
}

// object completes a response or chunk body with the fields every one
// has.
func (res *response) object(body map[string]any) map[string]any {
	obj := "text_completion"
	switch {
	case res.chat && res.stream:
		obj = "chat.completion.chunk"
	case res.chat:
		obj = "chat.completion"
	}
	body["id"], body["object"], body["created"], body["model"] = res.id, obj, res.created, res.model
	return body
}

// chunk streams text (and, when reason is set, the end of the choice).
// The first chunk of a chat also carries the assistant role.
func (res *response) chunk(text string, reason finishReason) {
	if text == "" && reason == "" && res.headerWritten {
		return
	}
	choice := map[string]any{"index": 0, "finish_reason": nil, "logprobs": nil}
	if reason != "" {
		choice["finish_reason"] = reason
	}
	if res.chat {
		delta := map[string]any{}
		if !res.headerWritten {
			delta["role"] = "assistant"
		}
		if text != "" || !res.headerWritten {
			delta["content"] = text
		}
		choice["delta"] = delta
	} else {
		choice["text"] = text
	}
	res.event(res.object(map[string]any{"choices": []any{choice}}))
}

// event writes one server-sent event holding v as JSON.
func (res *response) event(v any) {
	if !res.headerWritten {
		h := res.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		res.w.WriteHeader(http.StatusOK)
		res.headerWritten = true
	}
	data, _ := json.Marshal(v) // maps of strings and numbers always marshal
	_, _ = io.WriteString(res.w, "data: "+string(data)+"\n\n")
	http.NewResponseController(res.w).Flush()
}

// done ends a stream as OpenAI's does.
func (res *response) done() {
	_, _ = io.WriteString(res.w, "data: [DONE]\n\n")
	http.NewResponseController(res.w).Flush()
}

type adapterRequest struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

func (s *Server) addAdapter(w http.ResponseWriter, r *http.Request) {
	var req adapterRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	dir, aerr := resolveUnder(s.root, req.Path)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if aerr := s.reg.checkNew(req.Name); aerr != nil {
		writeError(w, aerr)
		return
	}
	c := s.cfg.Model.Config
	a, err := lora.Load(dir, req.Name, c.NumHiddenLayers, c.ModuleShape)
	if err != nil {
		rel, _ := filepath.Rel(s.root, dir)
		writeError(w, badRequest("path", "adapter %q (%s under --adapter_root): %s", req.Name, rel, strings.ReplaceAll(err.Error(), s.root+string(filepath.Separator), "")))
		return
	}
	var dev *decoder.DeviceAdapter
	if !s.eng.do(func() { dev = s.cfg.Model.UploadAdapter(a) }) {
		writeError(w, shuttingDown())
		return
	}
	md, aerr := s.reg.add(req.Name, dev, s.cfg.SystemPrompt(a))
	if aerr != nil { // another request added the name meanwhile
		s.eng.freeAdapter(dev)
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, modelJSON(md))
}

func (s *Server) deleteAdapter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	md, now, aerr := s.reg.remove(name)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if now {
		s.eng.freeAdapter(md.dev)
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": name, "object": "model", "deleted": true})
}
