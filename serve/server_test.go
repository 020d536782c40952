package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/internal/testmodel"
	"github.com/tune-dev/tune/lora"
	"github.com/tune-dev/tune/qwen/tokenizer"
)

// fixture is a server over the test model (byte-level tokenizer) with one
// adapter "a" whose B factors are random, so it changes the answers.
type fixture struct {
	s    *Server
	http *httptest.Server
	dir  string // the model folder
	a    *lora.Adapter
}

func randomAdapter(t *testing.T, c *decoder.Config, name string, seed uint64) *lora.Adapter {
	t.Helper()
	a, err := testmodel.RandomAdapter(c, name, 4, []string{"q_proj", "v_proj", "down_proj"}, 0.5, seed)
	require.NoError(t, err)
	return a
}

func newFixture(t *testing.T, edit func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, testmodel.Write(dir, 5))
	m, err := decoder.Load(dir, cpu.New(1))
	require.NoError(t, err)
	tok, err := tokenizer.Load(dir)
	require.NoError(t, err)
	g, err := decoder.LoadGenerationConfig(dir, m.Config)
	require.NoError(t, err)
	a := randomAdapter(t, m.Config, "a", 1)
	cfg := Config{Model: m, Tokenizer: tok, BaseName: "base", BaseSystem: "You answer.", Gen: g,
		Adapters: map[string]*lora.Adapter{"a": a}, SystemPrompt: func(*lora.Adapter) string { return "You answer." },
		MaxBatch: 4, MaxContext: 256, MaxQueue: 8, MaxTokens: 32, MaxBody: 4096, ShutdownTimeout: time.Minute}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	require.NoError(t, err)
	f := &fixture{s: s, http: httptest.NewServer(s.Handler()), dir: dir, a: a}
	t.Cleanup(func() {
		f.http.Close()
		s.Close()
		m.Free()
	})
	return f
}

// post sends body to path and returns the status and the decoded JSON.
func (f *fixture) post(t *testing.T, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.http.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// apiErr checks that out is an OpenAI error with the given param and a
// message holding msg.
func apiErr(t *testing.T, out map[string]any, param, msg string) {
	t.Helper()
	e, ok := out["error"].(map[string]any)
	require.True(t, ok, "no error object in %v", out)
	require.Contains(t, e, "type")
	require.Contains(t, e, "code")
	if param == "" {
		require.Nil(t, e["param"])
	} else {
		require.Equal(t, param, e["param"])
	}
	require.Contains(t, e["message"], msg)
}

func answerText(t *testing.T, out map[string]any) string {
	t.Helper()
	ch := out["choices"].([]any)[0].(map[string]any)
	if msg, ok := ch["message"].(map[string]any); ok {
		return msg["content"].(string)
	}
	return ch["text"].(string)
}

func TestBadRequests(t *testing.T) {
	f := newFixture(t, nil)
	const chat = "/v1/chat/completions"
	for _, c := range []struct {
		path, body  string
		status      int
		param, want string
	}{
		{chat, `{"model": "base", "messages": [`, 400, "", "malformed JSON"},
		{chat, ``, 400, "", "empty"},
		{chat, `[1, 2]`, 400, "", "must be a JSON object"},
		{chat, `{"model": "base", "messages": []}`, 400, "messages", "at least one message"},
		{chat, `{"model": "base"}`, 400, "messages", "at least one message"},
		{chat, `{"messages": [{"role": "user", "content": "hi"}]}`, 400, "model", "model is required"},
		{chat, `{"model": "base", "messages": "hi"}`, 400, "messages", "want an array"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "5"}`, 400, "max_tokens", "want an integer"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}`, 400, "max_tokens", "at least 1"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}`, 400, "temperature", "[0, 2]"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "hi"}], "top_p": 0}`, 400, "top_p", "(0, 1]"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}`, 400, "stream", "true or false"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "hi"}], "stop": 5}`, 400, "stop", "string or an array"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "hi"}], "n": 2}`, 400, "n", "only 1"},
		{chat, `{"model": "base", "messages": [{"role": "wizard", "content": "hi"}]}`, 400, "messages.0.role", "want system, user or assistant"},
		{chat, `{"model": "base", "messages": [{"role": "user"}]}`, 400, "messages.0.content", "no content"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}`, 400, "messages", "only text"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "` + strings.Repeat("x", 300) + `"}]}`, 400, "messages", "--max_context"},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "` + strings.Repeat("x", 200) + `"}], "max_tokens": 30}`, 400, "max_tokens", "--max_context"},
		{chat, `{"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}`, 404, "model", `"gpt-4" does not exist; this server has base, a`},
		{chat, `{"model": "base", "messages": [{"role": "user", "content": "` + strings.Repeat("x", 5000) + `"}]}`, 413, "", "4096 bytes"},
		{"/v1/completions", `{"model": "base", "prompt": [1, 2]}`, 400, "prompt", "token ids are not accepted"},
		{"/v1/completions", `{"model": "base", "prompt": ""}`, 400, "prompt", "non-empty"},
		{"/v1/completions", `{"model": "base", "prompt": "a", "echo": true}`, 400, "echo", "not supported"},
		{"/v1/nothing", `{}`, 404, "", "unknown endpoint"},
	} {
		status, out := f.post(t, c.path, c.body)
		require.Equal(t, c.status, status, c.body)
		apiErr(t, out, c.param, c.want)
	}
	// Nothing was queued or left running by them.
	status, out := do(t, mustGet(t, f.http.URL+"/health"))
	require.Equal(t, 200, status)
	require.EqualValues(t, 0, out["running"])
}

func mustGet(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	return req
}

func TestAPIKey(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.APIKey = "sesame" })
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "sesame"}} {
		status, out := f.post(t, "/v1/completions", `{"model": "base", "prompt": "a"}`, h...)
		require.Equal(t, 401, status)
		apiErr(t, out, "", "API key")
	}
	status, _ := f.post(t, "/v1/completions", `{"model": "base", "prompt": "a", "max_tokens": 2}`, "Authorization", "Bearer sesame")
	require.Equal(t, 200, status)
	status, _ = do(t, mustGet(t, f.http.URL+"/health")) // no key needed
	require.Equal(t, 200, status)
}

// TestAnswers: greedy answers are reproducible and differ between the
// base model and the adapter; seeded samples repeat; a stop sequence cuts
// the text; a stream carries the same text as the whole answer.
func TestAnswers(t *testing.T) {
	f := newFixture(t, nil)
	ask := func(body string) (map[string]any, string) {
		status, out := f.post(t, "/v1/chat/completions", body)
		require.Equal(t, 200, status, "%v", out)
		return out, answerText(t, out)
	}
	q := `"messages": [{"role": "user", "content": "What is the term?"}], "max_tokens": 12`
	baseOut, base := ask(`{"model": "base", "temperature": 0, ` + q + `}`)
	_, again := ask(`{"model": "base", "temperature": 0, ` + q + `}`)
	require.Equal(t, base, again)
	_, adapted := ask(`{"model": "a", "temperature": 0, ` + q + `}`)
	require.NotEqual(t, base, adapted, "the adapter changes the answer")
	u := baseOut["usage"].(map[string]any)
	require.EqualValues(t, 12, u["completion_tokens"])
	require.Equal(t, u["prompt_tokens"].(float64)+12, u["total_tokens"])
	require.Equal(t, "length", baseOut["choices"].([]any)[0].(map[string]any)["finish_reason"])
	require.Equal(t, "chat.completion", baseOut["object"])

	_, s1 := ask(`{"model": "a", "temperature": 1.5, "seed": 7, ` + q + `}`)
	_, s2 := ask(`{"model": "a", "temperature": 1.5, "seed": 7, ` + q + `}`)
	require.Equal(t, s1, s2, "the same seed samples the same answer")

	// A stop sequence: the answer ends before its first occurrence.
	require.GreaterOrEqual(t, len([]rune(base)), 4)
	stop := string([]rune(base)[2:4])
	out, cut := ask(`{"model": "base", "temperature": 0, "stop": ["` + jsonEscape(stop) + `"], ` + q + `}`)
	require.Equal(t, base[:strings.Index(base, stop)], cut)
	require.Equal(t, "stop", out["choices"].([]any)[0].(map[string]any)["finish_reason"])

	// Streamed: the chunks put together are the whole answer.
	chunks := stream(t, f, `{"model": "base", "temperature": 0, "stream": true, "stream_options": {"include_usage": true}, `+q+`}`)
	var text strings.Builder
	for _, c := range chunks[:len(chunks)-1] {
		require.Equal(t, "chat.completion.chunk", c["object"])
		for _, ch := range c["choices"].([]any) {
			if s, ok := ch.(map[string]any)["delta"].(map[string]any)["content"].(string); ok {
				text.WriteString(s)
			}
		}
	}
	require.Equal(t, base, text.String())
	last := chunks[len(chunks)-1]
	require.EqualValues(t, 12, last["usage"].(map[string]any)["completion_tokens"])

	// A streamed answer with a stop sequence holds back what could start it.
	chunks = stream(t, f, `{"model": "base", "temperature": 0, "stream": true, "stop": "`+jsonEscape(stop)+`", `+q+`}`)
	text.Reset()
	for _, c := range chunks {
		for _, ch := range c["choices"].([]any) {
			if s, ok := ch.(map[string]any)["delta"].(map[string]any)["content"].(string); ok {
				text.WriteString(s)
			}
		}
	}
	require.Equal(t, cut, text.String())

	// The completions endpoint: raw prompts, 16 tokens by default.
	status, out := f.post(t, "/v1/completions", `{"model": "a", "prompt": "Term:", "temperature": 0}`)
	require.Equal(t, 200, status)
	require.Equal(t, "text_completion", out["object"])
	require.EqualValues(t, 16, out["usage"].(map[string]any)["completion_tokens"])
}

func jsonEscape(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// stream posts a streamed request and returns its events' JSON, checking
// that it ends with [DONE].
func stream(t *testing.T, f *fixture, body string) []map[string]any {
	t.Helper()
	resp, err := http.Post(f.http.URL+"/v1/chat/completions", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	done := false
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		require.False(t, done, "an event after [DONE]")
		if line == "[DONE]" {
			done = true
			continue
		}
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &ev))
		out = append(out, ev)
	}
	require.True(t, done, "the stream ends with [DONE]")
	return out
}

// TestDisconnectFreesSlot: with one slot, a client that leaves in the
// middle of a long streamed answer frees the slot (the engine ends its
// sequence) and the next request is answered.
func TestDisconnectFreesSlot(t *testing.T) {
	ended := make(chan *job, 4)
	f := newFixture(t, func(c *Config) { c.MaxBatch, c.MaxTokens = 1, 200 })
	f.s.eng.ended = func(j *job) { ended <- j }

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.http.URL+"/v1/chat/completions",
		strings.NewReader(`{"model": "base", "temperature": 0, "stream": true, "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}`))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, err = bufio.NewReader(resp.Body).ReadString('\n') // the first chunk came
	require.NoError(t, err)
	cancel()
	resp.Body.Close()
	j := <-ended
	require.Contains(t, []decoder.Finish{decoder.FinishRemoved, decoder.FinishStopped}, j.seq.Finish(), "the engine ended the sequence")
	require.Less(t, len(j.seq.Tokens()), 200)
	require.Equal(t, 1, f.s.batcher.FreeSlots())

	status, out := f.post(t, "/v1/chat/completions", `{"model": "base", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]}`)
	require.Equal(t, 200, status, "%v", out)
}

// TestQueueBound: with one slot and a queue of one, a third concurrent
// request gets a 429 while the first two are answered.
func TestQueueBound(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	f := newFixture(t, func(c *Config) { c.MaxBatch, c.MaxQueue = 1, 1 })
	// Hold the engine inside a command until two requests wait: one in
	// the queue's channel, one more refused.
	go f.s.eng.do(func() { close(started); <-release })
	<-started
	type result struct {
		status int
		out    map[string]any
	}
	results := make(chan result, 2)
	body := `{"model": "base", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}`
	go func() {
		st, out := f.post(t, "/v1/chat/completions", body)
		results <- result{st, out}
	}()
	for len(f.s.eng.submit) == 0 {
		runtime.Gosched()
	}
	status, out := f.post(t, "/v1/chat/completions", body)
	require.Equal(t, 429, status)
	apiErr(t, out, "", "--max_queue")
	close(release)
	r := <-results
	require.Equal(t, 200, r.status, "%v", r.out)
}

// TestAdaptersAtRunTime: POST /v1/adapters loads a folder under
// --adapter_root and serves it by name; paths outside the root (absolute,
// climbing, or through a symbolic link) are refused; DELETE removes it.
func TestAdaptersAtRunTime(t *testing.T) {
	root := t.TempDir()
	f := newFixture(t, func(c *Config) { c.AdapterRoot = root })
	b := randomAdapter(t, f.s.cfg.Model.Config, "b", 9)
	require.NoError(t, b.Save(filepath.Join(root, "b")))
	outside := t.TempDir()
	require.NoError(t, b.Save(filepath.Join(outside, "c")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "c"), filepath.Join(root, "link")))

	for _, c := range []struct {
		body, param, want string
		status            int
	}{
		{`{"name": "x", "path": "` + jsonEscape(filepath.Join(outside, "c")) + `"}`, "path", "relative to the server's --adapter_root", 400},
		{`{"name": "x", "path": "../c"}`, "path", "without '..'", 400},
		{`{"name": "x", "path": "link"}`, "path", "leads outside", 400},
		{`{"name": "x", "path": "nothing"}`, "path", "no such folder", 400},
		{`{"name": "a", "path": "b"}`, "name", "already served", 409},
		{`{"name": "bad/name", "path": "b"}`, "name", "letters, digits", 400},
	} {
		status, out := f.post(t, "/v1/adapters", c.body)
		require.Equal(t, c.status, status, c.body)
		apiErr(t, out, c.param, c.want)
	}

	q := `"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "temperature": 0}`
	_, before := f.post(t, "/v1/chat/completions", `{"model": "b", `+q)
	apiErr(t, before, "model", "does not exist")
	status, out := f.post(t, "/v1/adapters", `{"name": "b", "path": "b"}`)
	require.Equal(t, 200, status, "%v", out)
	require.Equal(t, "b", out["id"])
	status, out = f.post(t, "/v1/chat/completions", `{"model": "b", `+q)
	require.Equal(t, 200, status, "%v", out)
	_, models := do(t, mustGet(t, f.http.URL+"/v1/models"))
	var names []string
	for _, m := range models["data"].([]any) {
		names = append(names, m.(map[string]any)["id"].(string))
	}
	require.Equal(t, []string{"base", "a", "b"}, names)

	req, err := http.NewRequest(http.MethodDelete, f.http.URL+"/v1/adapters/b", nil)
	require.NoError(t, err)
	status, out = do(t, req)
	require.Equal(t, 200, status)
	require.Equal(t, true, out["deleted"])
	_, out = f.post(t, "/v1/chat/completions", `{"model": "b", `+q)
	apiErr(t, out, "model", "does not exist")
	req, _ = http.NewRequest(http.MethodDelete, f.http.URL+"/v1/adapters/base", nil)
	status, out = do(t, req)
	require.Equal(t, 400, status)
	apiErr(t, out, "name", "base model")
}

// TestAdapterEndpointOffWithoutRoot: without --adapter_root nothing a
// request sends makes the server read a file.
func TestAdapterEndpointOffWithoutRoot(t *testing.T) {
	f := newFixture(t, nil)
	status, out := f.post(t, "/v1/adapters", `{"name": "x", "path": "`+jsonEscape(f.dir)+`"}`)
	require.Equal(t, 403, status)
	apiErr(t, out, "", "--adapter_root")
}

// TestGracefulShutdown: when Serve's context ends, a request in flight
// is answered whole and new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	f := newFixture(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()

	resp, err := http.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model": "a", "stream": true, "max_tokens": 30, "temperature": 0, "messages": [{"role": "user", "content": "hi"}]}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	_, err = r.ReadString('\n') // it is running
	require.NoError(t, err)
	stop()
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Contains(t, string(rest), `"finish_reason":"length"`)
	require.True(t, strings.HasSuffix(string(rest), "data: [DONE]\n\n"))
	require.NoError(t, <-served)
	_, err = http.Get(url + "/health")
	require.Error(t, err, "the listener is closed")
}
