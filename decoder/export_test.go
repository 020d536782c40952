package decoder

// ChunkLogits lets the tests make the loss's chunks of logits small.
var ChunkLogits = &chunkLogits

// StreamChunk lets the tests make the loader's pieces small.
var StreamChunk = &streamChunk
