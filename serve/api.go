package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiError is an error in the OpenAI shape, with its HTTP status.
type apiError struct {
	status  int
	message string
	typ     string
	param   string // "" is null
	code    string // "" is null
}

func (e *apiError) Error() string { return e.message }

// The error types of the OpenAI API.
const (
	invalidRequest = "invalid_request_error"
	serverError    = "server_error"
)

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...), typ: invalidRequest, param: param}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeError sends e as {"error": {"message", "type", "param", "code"}}.
func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"message": e.message, "type": e.typ, "param": nullable(e.param), "code": nullable(e.code)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a client that left gets nothing either way
}

// decodeBody reads one JSON object from the request body into v: a body
// over the size limit, malformed JSON, a value of the wrong type and
// anything after the object are 400s (413 for the size) naming the field
// where there is one.
func decodeBody(r *http.Request, v any) *apiError {
	data, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: invalidRequest,
			message: fmt.Sprintf("the request body is larger than the server's limit of %d bytes (--max_body)", tooBig.Limit)}
	}
	if err != nil {
		return badRequest("", "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("", "the request body is empty: send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		var fe *fieldError
		switch {
		case errors.As(err, &fe):
			return badRequest(fe.field, "%s", fe.msg)
		case errors.As(err, &te) && te.Field != "":
			field := strings.TrimPrefix(te.Field, "sampling.") // the fields chat and completion requests share
			return badRequest(field, "%s: got a JSON %s, want %s", field, te.Value, jsonKind(te.Type.String()))
		case errors.As(err, &te):
			return badRequest("", "the request body must be a JSON object, got a JSON %s", te.Value)
		case errors.As(err, &se):
			return badRequest("", "malformed JSON at byte %d: %v", se.Offset, err)
		}
		return badRequest("", "malformed JSON: %v", err)
	}
	if dec.More() {
		return badRequest("", "malformed JSON: more than one value in the body")
	}
	return nil
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(goType string) string {
	switch t := strings.TrimPrefix(goType, "*"); {
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	}
	return "an object"
}

// fieldError is a field whose JSON value has none of the shapes it may
// take (custom unmarshalers return it).
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.msg }

// stopList is OpenAI's stop: null, one string or an array of up to four.
type stopList []string

func (s *stopList) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*s = stopList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		if string(data) == "null" {
			return nil
		}
		return &fieldError{"stop", "stop: want a string or an array of strings"}
	}
	*s = many
	return nil
}

// content is a message's content: a string, or an array of parts of
// which only {"type": "text", "text": ...} are accepted.
type content struct {
	text string
	set  bool
}

func (c *content) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	c.set = true
	if json.Unmarshal(data, &c.text) == nil {
		return nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(data, &parts); err != nil {
		return &fieldError{"messages", "messages: content must be a string or an array of text parts"}
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return &fieldError{"messages", fmt.Sprintf("messages: content part of type %q is not supported (only text)", p.Type)}
		}
		b.WriteString(*p.Text)
	}
	c.text = b.String()
	return nil
}

// prompt is a completion's prompt: a string or an array of one string.
type prompt struct {
	text string
	set  bool
}

func (p *prompt) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	p.set = true
	if json.Unmarshal(data, &p.text) == nil {
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil || len(many) != 1 {
		return &fieldError{"prompt", "prompt: want a string (or an array of exactly one string; token ids are not accepted)"}
	}
	p.text = many[0]
	return nil
}

type message struct {
	Role    string  `json:"role"`
	Content content `json:"content"`
}

// sampling holds the fields chat and completion requests share.
type sampling struct {
	Model               string   `json:"model"`
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	Temperature         *float64 `json:"temperature"`
	TopP                *float64 `json:"top_p"`
	TopK                *int     `json:"top_k"`
	RepetitionPenalty   *float64 `json:"repetition_penalty"`
	Seed                *int64   `json:"seed"`
	Stop                stopList `json:"stop"`
	Stream              bool     `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	N        *int `json:"n"`
	Logprobs any  `json:"logprobs"`
}

type chatRequest struct {
	sampling
	Messages []message `json:"messages"`
	Tools    []any     `json:"tools"`
}

type completionRequest struct {
	sampling
	Prompt prompt `json:"prompt"`
	Echo   bool   `json:"echo"`
	Suffix any    `json:"suffix"`
}

// check reports the first field out of range.
func (s *sampling) check() *apiError {
	switch {
	case s.Model == "":
		return badRequest("model", "model is required (GET /v1/models lists them)")
	case s.N != nil && *s.N != 1:
		return badRequest("n", "n: only 1 choice per request is supported")
	case s.Logprobs != nil && s.Logprobs != false && s.Logprobs != float64(0):
		return badRequest("logprobs", "logprobs are not supported")
	case s.MaxTokens != nil && *s.MaxTokens < 1:
		return badRequest("max_tokens", "max_tokens %d: must be at least 1", *s.MaxTokens)
	case s.MaxCompletionTokens != nil && *s.MaxCompletionTokens < 1:
		return badRequest("max_completion_tokens", "max_completion_tokens %d: must be at least 1", *s.MaxCompletionTokens)
	case s.Temperature != nil && !(*s.Temperature >= 0 && *s.Temperature <= 2):
		return badRequest("temperature", "temperature %g: must be in [0, 2]", *s.Temperature)
	case s.TopP != nil && !(*s.TopP > 0 && *s.TopP <= 1):
		return badRequest("top_p", "top_p %g: must be in (0, 1]", *s.TopP)
	case s.TopK != nil && *s.TopK < 0:
		return badRequest("top_k", "top_k %d: must be at least 0 (0: all tokens)", *s.TopK)
	case s.RepetitionPenalty != nil && !(*s.RepetitionPenalty > 0):
		return badRequest("repetition_penalty", "repetition_penalty %g: must be positive", *s.RepetitionPenalty)
	case s.Seed != nil && *s.Seed < 0:
		return badRequest("seed", "seed %d: must be at least 0", *s.Seed)
	case len(s.Stop) > 4:
		return badRequest("stop", "stop: at most 4 sequences, got %d", len(s.Stop))
	}
	for _, st := range s.Stop {
		if st == "" {
			return badRequest("stop", "stop: a stop sequence must not be empty")
		}
	}
	return nil
}

// maxTokens is the requested number of new tokens, nil when not given.
func (s *sampling) maxTokens() *int {
	if s.MaxCompletionTokens != nil {
		return s.MaxCompletionTokens
	}
	return s.MaxTokens
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// finishReason is OpenAI's finish_reason of a finished choice.
type finishReason string

const (
	finishStop   finishReason = "stop"
	finishLength finishReason = "length"
)
