// Package serve is tune's OpenAI-compatible HTTP API (tune serve): one
// base model and any number of LoRA adapters over it, each a model name
// a request can ask for.
//
// Endpoints: POST /v1/chat/completions (messages through the model family's chat
// template, with the system prompt recorded for the model when a chat has
// none), POST /v1/completions (a raw prompt), GET /v1/models, GET
// /health, and POST /v1/adapters and DELETE /v1/adapters/NAME to add and
// remove adapters without reloading the base. Responses, streamed chunks
// (server-sent events ending with [DONE]) and errors ({"error":
// {"message", "type", "param", "code"}}) have the OpenAI shapes.
//
// One goroutine, the engine, owns the model: it admits queued requests
// into the free slots of a decoder.Batcher (continuous batching: a request
// joins and leaves the running batch between decode steps; requests for
// different adapters share a step, each row applying its own LoRA pair),
// runs the steps, and uploads and frees adapters, so the backend is never
// used from two goroutines. Each request's handler turns its tokens into
// text, applies its stop sequences and writes the answer. A client that
// leaves (or a stop sequence that matches) cancels the request's context,
// and the engine frees its slot before the next step.
//
// Limits: Config.MaxBatch slots, MaxQueue waiting requests (429 past
// that), MaxContext tokens per request, MaxTokens per answer, MaxBody
// bytes per request body, an optional API key. Requests name models, never
// files: POST /v1/adapters loads only folders under Config.AdapterRoot
// (symbolic links that lead out of it are refused), and is off without
// one.
package serve
