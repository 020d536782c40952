// Package train fine-tunes a Qwen2 or Llama model with LoRA or QLoRA. It keeps the
// loop and the optimizer: Run is the whole run (trainer.go) over a
// backend.Backend, with gradient accumulation normalized like Hugging
// Face's, PyTorch's AdamW with global gradient-norm clipping (optim.go),
// learning-rate schedules with transformers' semantics (schedule.go),
// evaluation, early stopping, the best model, checkpoints and an exact
// resume (resume.go), data-parallel steps over the ranks of a dist.Comm
// (parallel.go), the end-of-training report on the test set
// (testreport.go) and, with MergeAdapters, the merged model. QA answers
// chat records with a model and pairs the answers with their references
// (answer.go), for that report and for tune eval.
//
// The jobs around the loop have packages of their own: train/data reads
// and batches the data (and finds the system prompt a run records with
// every adapter it writes), train/runlog writes what a run leaves for
// people and tools (trainer_state.json, training_log.jsonl, TensorBoard
// events, loss.png, the progress bar), decoder/merge exports the merged
// model, and internal/atomicfile publishes checkpoints and adapters whole.
package train
