// Package runlog writes what a training run leaves for people and tools to
// read, in the formats those tools expect: trainer_state.json as Hugging
// Face transformers writes it, byte for byte (TrainerState, state.go), the
// append-only training_log.jsonl that survives a crash mid-line (Log,
// logfile.go), TensorBoard event files (EventWriter, tensorboard.go), the
// loss plot loss.png (PlotLoss, plot.go) and the console progress bar or
// lines (Progress, progress.go). It knows nothing of models or data:
// package train decides what to record and when.
package runlog
