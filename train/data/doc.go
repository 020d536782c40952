// Package data is the training data pipeline: JSONL records in three
// shapes (instruction/input/output, chat messages, or pre-tokenized
// input_ids with labels; record.go), rendered through the chat template
// and tokenized with labels that restrict the loss to the assistant's
// answers, and LoadDataset and Loader, which turn a file into seeded,
// dynamically padded or packed micro-batches with random access by
// (epoch, index) (dataset.go). A Dataset also finds the system prompt its
// chat records share, which a run records with its adapter.
//
// It lives under train because training is what it feeds: package train
// runs the loop over its batches, and tune score and the end-of-training
// report read records through it. It does not run a model.
package data
