// Package merge exports a fine-tuned model: it folds a LoRA adapter into
// the base model's projection weights (W + s·B·A, in the base weight's
// dtype, or into the NF4 round trip a QLoRA run trained against) and
// writes a plain Hugging Face model folder that needs neither tune nor
// PEFT to load: config.json, generation_config.json, the weights (sharded
// above a size), the tokenizer files and the adapter's system prompt.
// Write never replaces a folder it did not write (Marker) nor one of its
// inputs, and swaps the new folder in only once it is complete. tune
// merge and train --merge_adapters both call it.
package merge
