// Package tokenizer is a Go implementation of the byte-level BPE tokenizer
// of Qwen2 / Qwen2.5 and Llama 3 that reproduces the Hugging Face
// tokenizers library token for token, plus the chat template seam
// (ChatTemplate) and Qwen2.5-Instruct's template (ChatML).
//
// # Loading
//
// [Load] reads a Hugging Face tokenizer.json (plain or gzipped) or a folder
// holding one, together with the folder's tokenizer_config.json when present
// (eos and pad tokens, chat template presence). [Parse] reads the JSON from
// memory. Only the configurations Qwen2 and Llama 3 use are supported: an
// NFC normalizer or none, a Sequence pre-tokenizer of Split (the Qwen2 or
// the Llama 3 pattern, Isolated) followed by ByteLevel without its own
// regex, a BPE model (ignore_merges honoured) and a ByteLevel decoder. Any
// other configuration is rejected with an error naming the file. The
// post-processor, which adds Llama 3's <|begin_of_text|>, is not applied:
// Encode adds no special tokens, and Llama 3's chat template writes it.
//
// # Encoding pipeline
//
// [Tokenizer.Encode] follows the Hugging Face pipeline exactly and adds no
// special tokens:
//
//  1. Added tokens (such as <|im_start|>) are matched in the raw text,
//     leftmost-longest, honouring their single_word, lstrip and rstrip flags.
//     Each match becomes its token id; the text between matches is processed
//     on its own by the following steps. Added tokens marked "normalized" are
//     instead matched in the normalized text of each piece.
//  2. The piece is normalized to Unicode NFC.
//  3. It is split into pre-tokens by a hand-written scanner that implements the
//     Qwen2 split regular expression
//     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//     (Llama 3's takes \p{N}{1,3} for \p{N}) with the regex engine's
//     semantics (first alternative that matches, greedy repetition, and the
//     backtracking of \s+(?!\S)), since Go's regexp has no look-ahead.
//  4. Each pre-token's UTF-8 bytes are mapped to the GPT-2 byte-level
//     alphabet, one vocabulary symbol per byte.
//  5. BPE merges the symbols, always applying the lowest-ranked merge first
//     (leftmost on ties). Results are cached per pre-token.
//
// [Tokenizer.Decode] maps ids back to bytes through the byte-level alphabet
// and converts them to a string, replacing invalid UTF-8 by U+FFFD the way
// Python's bytes.decode(errors="replace") and Rust's from_utf8_lossy do (one
// U+FFFD per maximal invalid subpart). [StreamDecoder] does the same
// incrementally during generation, holding back an incomplete UTF-8 sequence
// until the token that completes it arrives.
//
// # Chat template
//
// A model family's chat template is a [ChatTemplate]: its Segments render a
// conversation exactly as the family's Jinja template does (without tools)
// and mark the trained part (an assistant answer and its end-of-turn
// token). [Tokenizer.ApplyChatTemplate] renders the tokenizer's Chat, set
// by the caller that knows the model's family, ChatML when unset. [ChatML]
// is Qwen2.5-Instruct's: a system turn first (the first message when it is
// a system message, otherwise [QwenSystemPrompt]), then one
// <|im_start|>ROLE\nCONTENT<|im_end|>\n turn per message, and optionally
// the generation prompt <|im_start|>assistant\n. Llama 3's is llama.Chat.
package tokenizer
