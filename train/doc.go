// Package train fine-tunes a Qwen2 model with LoRA or QLoRA: Run is the
// whole training loop (trainer.go) over a backend.Backend, with gradient
// accumulation normalized like Hugging Face's, PyTorch's AdamW with global
// gradient-norm clipping (optim.go), evaluation, early stopping, the best
// model, checkpoints written atomically and an exact resume, the
// end-of-training report on the test set (testreport.go), data-parallel
// runs over the ranks of a dist.Comm (parallel.go) and, with
// MergeAdapters, the merged model (package qwen/merge). QA answers chat records with a
// model and pairs the answers with their references (answer.go), for that
// report and for tune eval. A run records its system prompt with every
// adapter it writes (data.Dataset.SystemPrompt).
//
// Its data pipeline (records, the chat template's rendering, batching
// and packing) is package train/data.
//
// Learning-rate schedules follow Hugging Face transformers' semantics
// (schedule.go). What a run writes for people and tools to read
// (trainer_state.json, training_log.jsonl, TensorBoard events, loss.png,
// the progress bar) is package train/runlog's; checkpoints and adapters
// are published with internal/atomicfile's folder commits.
package train
