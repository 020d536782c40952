// Package train holds the training data pipeline: JSONL records
// (instruction/input/output, chat messages, or pre-tokenized input_ids
// with labels), their rendering through the Qwen2.5 chat template, and the
// labels that restrict the loss to the assistant's answers.
package train
