// Package train holds the training data pipeline: JSONL records
// (instruction/input/output, chat messages, or pre-tokenized input_ids
// with labels), their rendering through the Qwen2.5 chat template, and the
// labels that restrict the loss to the assistant's answers.
//
// It also holds the training run's outputs: learning-rate schedules with
// Hugging Face transformers' semantics (schedule.go), a TensorBoard event
// writer (tensorboard.go), the loss plot (plot.go), trainer_state.json in
// transformers' format (state.go), the training_log.jsonl writer
// (logfile.go), the progress bar (progress.go) and crash-safe file and
// directory commits (atomic.go).
package train
