package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// teacher is contract.Teacher over an OpenAI-compatible chat completions
// endpoint (vLLM, llama.cpp's server, tune serve): greedy, seeded, one
// answer per request.
type teacher struct {
	url, model, key string
	client          *http.Client
}

// newTeacher checks --teacher_url (the API's base URL, ending in /v1 as
// OpenAI clients take it) and --teacher_model.
func newTeacher(url, model, key string) (*teacher, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("--teacher_url %q: want the server's http:// or https:// base URL, such as http://127.0.0.1:8000/v1", url)
	}
	if model == "" {
		return nil, fmt.Errorf("--teacher_model is required with --teacher_url (the model name the server lists at GET /v1/models)")
	}
	return &teacher{url: strings.TrimSuffix(url, "/") + "/chat/completions", model: model, key: key,
		client: &http.Client{Timeout: 5 * time.Minute}}, nil
}

// Ask implements contract.Teacher.
func (t *teacher) Ask(ctx context.Context, system, user string) (string, error) {
	body, err := json.Marshal(map[string]any{"model": t.model, "temperature": 0, "seed": 0, "max_tokens": 512,
		"messages": []map[string]string{{"role": "system", "content": system}, {"role": "user", "content": user}}})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.key != "" {
		req.Header.Set("Authorization", "Bearer "+t.key)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.url, err)
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("%s: HTTP %d, not an OpenAI response: %.200s", t.url, resp.StatusCode, data)
	}
	if resp.StatusCode != http.StatusOK || len(out.Choices) == 0 {
		msg := string(data)
		if out.Error != nil {
			msg = out.Error.Message
		}
		return "", fmt.Errorf("%s: HTTP %d: %.300s", t.url, resp.StatusCode, msg)
	}
	return out.Choices[0].Message.Content, nil
}
