package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/cli"
)

// startServe runs tune serve with args (on a free port) in this process
// and returns its base URL; the cleanup stops it as SIGTERM would and
// checks that it returned without error.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	saved := *cli.ServeSignals
	*cli.ServeSignals = func() (context.Context, context.CancelFunc) { return ctx, stop }
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(append([]string{"tune", "serve", "--port", "0"}, args...), assets, strings.NewReader(""), io.Discard, pw)
		pw.Close()
	}()
	addr := regexp.MustCompile(`on (http://\S+)/v1 `)
	sc := bufio.NewScanner(pr)
	url := ""
	var lines []string
	for url == "" && sc.Scan() {
		lines = append(lines, sc.Text())
		if m := addr.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	go io.Copy(io.Discard, pr) //nolint:errcheck // keeps the pipe drained
	if url == "" {
		t.Fatalf("tune serve did not start: %v\n%s", <-done, strings.Join(lines, "\n"))
	}
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
		*cli.ServeSignals = saved
	})
	return url
}

// chatAnswer posts a greedy chat request and returns the answer.
func chatAnswer(client *http.Client, url, model, question string, maxTokens int) (string, error) {
	body, _ := json.Marshal(map[string]any{"model": model, "temperature": 0, "max_tokens": maxTokens,
		"messages": []map[string]string{{"role": "user", "content": question}}})
	resp, err := client.Post(url+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.Choices) != 1 {
		return "", fmt.Errorf("bad answer %s: %v", data, err)
	}
	return out.Choices[0].Message.Content, nil
}

// TestServeLoad: 64 concurrent greedy requests across the demo's base
// model and two of its adapters (its final adapter and its checkpoint of
// step 1) are all answered, each with the answer the same request gets
// alone; a second round leaves no goroutine and no heap growth behind.
func TestServeLoad(t *testing.T) {
	dir, _ := demoRun(t)
	runDir := filepath.Join(dir, "checkpoints", "qwen-legal-lora")
	url := startServe(t, "--base_model", filepath.Join(dir, "model"), "--adapter", "first="+runDir, "--adapter", "second="+filepath.Join(runDir, "checkpoint-1"),
		"--max_batch", "8", "--max_queue", "64")

	type request struct {
		model, question string
		maxTokens       int
	}
	models := []string{"model", "first", "second"}
	reqs := make([]request, 64)
	for i := range reqs {
		reqs[i] = request{models[i%3], fmt.Sprintf("Question %d: when may the agreement be terminated?", i), 3 + i%7}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	alone := make([]string, len(reqs))
	for i, r := range reqs {
		var err error
		alone[i], err = chatAnswer(client, url, r.model, r.question, r.maxTokens)
		require.NoError(t, err)
	}
	require.NotEqual(t, alone[0], alone[1], "the base model and the first adapter answer differently")

	round := func() {
		var wg sync.WaitGroup
		got := make([]string, len(reqs))
		errs := make([]error, len(reqs))
		for i, r := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = chatAnswer(client, url, r.model, r.question, r.maxTokens)
			}()
		}
		wg.Wait()
		for i := range reqs {
			require.NoError(t, errs[i], "request %d", i)
			require.Equal(t, alone[i], got[i], "request %d (%s) in the batch and alone", i, reqs[i].model)
		}
		tr.CloseIdleConnections()
	}
	// settled waits (bounded) for the server's connection goroutines to
	// end once the client closed its side: until there are at most limit
	// goroutines, or (limit < 0) the count held for 5 samples; then it
	// measures the heap after a collection.
	settled := func(limit int) (int, uint64) {
		n, same := runtime.NumGoroutine(), 0
		for i := 0; i < 250 && (limit < 0 && same < 5 || limit >= 0 && n > limit); i++ {
			time.Sleep(20 * time.Millisecond)
			if m := runtime.NumGoroutine(); m == n {
				same++
			} else {
				n, same = m, 0
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return n, ms.HeapAlloc
	}
	round()
	g1, h1 := settled(-1)
	round()
	g2, h2 := settled(g1)
	require.LessOrEqual(t, g2, g1, "goroutines after the second round")
	require.Less(t, int64(h2)-int64(h1), int64(4<<20), "heap growth over a round: %d -> %d bytes", h1, h2)
	t.Logf("goroutines %d -> %d, heap %.1f -> %.1f MiB", g1, g2, float64(h1)/(1<<20), float64(h2)/(1<<20))
}

// TestGenDataTeacher: gen-data asks tune serve, as its teacher, about each
// fact of the demo's contract; the tiny model's replies are nonsense, so
// the checks drop them, and the counts say so on stdout and in the
// summary. (contract's TestTeach shows that good replies are kept.)
func TestGenDataTeacher(t *testing.T) {
	demo, _ := demoRun(t)
	dir := t.TempDir()
	url := startServe(t, "--base_model", filepath.Join(demo, "model"), "--max_tokens", "12")
	out := filepath.Join(dir, "qa", "legal_qa.jsonl")
	stdout, stderr, err := run(t, "", "gen-data", "--contract_path", "demo_contract.txt", "--output_path", out,
		"--teacher_url", url+"/v1", "--teacher_model", "model")
	require.NoError(t, err, stderr)
	require.Contains(t, stderr, "asking the teacher model at "+url+"/v1")
	m := regexp.MustCompile(`teacher: asked about (\d+) facts; kept (\d+) question paraphrases and (\d+) answers, dropped (\d+) and (\d+)`).FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	require.NotEqual(t, "0", m[1])
	require.Equal(t, m[1], m[5], "every nonsense answer is dropped: %s", stdout)
	var summary struct {
		Teacher struct {
			Facts   int            `json:"facts_asked_about"`
			Dropped map[string]int `json:"answers_dropped"`
		} `json:"teacher"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "qa", "legal_qa_summary.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &summary))
	require.Equal(t, m[1], fmt.Sprint(summary.Teacher.Facts))
	require.NotEmpty(t, summary.Teacher.Dropped)

	_, _, err = run(t, "", "gen-data", "--contract_path", "demo_contract.txt", "--output_path", filepath.Join(dir, "b", "qa.jsonl"),
		"--teacher_url", url+"/v1", "--teacher_model", "nobody")
	require.ErrorContains(t, err, `HTTP 404: the model "nobody" does not exist`)
	require.NoFileExists(t, filepath.Join(dir, "b", "qa.jsonl"), "nothing is written when the teacher fails")
}
