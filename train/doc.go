// Package train fine-tunes a Qwen2 or Llama model with LoRA or QLoRA: Run is the
// whole training loop (trainer.go) over a backend.Backend, with gradient
// accumulation normalized like Hugging Face's, PyTorch's AdamW with global
// gradient-norm clipping (optim.go), evaluation, early stopping, the best
// model, checkpoints written atomically and an exact resume, the
// end-of-training report on the test set (testreport.go), data-parallel
// runs over the ranks of a dist.Comm (parallel.go), and Merge folds
// an adapter into its base model (merge.go). QA answers chat records with a
// model and pairs the answers with their references (answer.go), for that
// report and for tune eval. A run records its system prompt with every
// adapter it writes (Dataset.SystemPrompt).
//
// Its data pipeline covers JSONL records
// (instruction/input/output, chat messages, or pre-tokenized input_ids
// with labels), their rendering through the model family's chat template, and the
// labels that restrict the loss to the assistant's answers; LoadDataset
// and Loader turn them into seeded, dynamically padded or packed
// micro-batches with random access by (epoch, index) (dataset.go).
//
// It also holds the training run's outputs: learning-rate schedules with
// Hugging Face transformers' semantics (schedule.go), a TensorBoard event
// writer (tensorboard.go), the loss plot (plot.go), trainer_state.json in
// transformers' format (state.go), the training_log.jsonl writer
// (logfile.go), the progress bar (progress.go) and crash-safe file and
// directory commits (atomic.go).
package train
