package tokenizer

import (
	"unicode/utf8"
)

// Decode returns the text of ids. Unknown ids are skipped, as are special
// tokens when skipSpecial is set. Bytes that do not form valid UTF-8 become
// U+FFFD, one per maximal invalid subpart, like Python's
// bytes.decode("utf-8", errors="replace") used by Hugging Face.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	var buf []byte
	for _, id := range ids {
		buf = t.appendBytes(buf, id, skipSpecial)
	}
	return string(appendLossy(nil, buf))
}

// appendBytes appends the bytes of token id to buf.
func (t *Tokenizer) appendBytes(buf []byte, id int, skipSpecial bool) []byte {
	if id < 0 || id >= len(t.tokens) {
		return buf
	}
	tok := &t.tokens[id]
	if skipSpecial && tok.special {
		return buf
	}
	return append(buf, tok.bytes...)
}

// sequencePrefix reports how many leading bytes of b (len(b) > 0) are a
// valid start of a UTF-8 sequence (0 if b[0] cannot start one) and how long
// that sequence must be.
func sequencePrefix(b []byte) (valid, need int) {
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch c := b[0]; {
	case c < utf8.RuneSelf:
		return 1, 1
	case 0xC2 <= c && c <= 0xDF:
		need = 2
	case c == 0xE0:
		need, lo = 3, 0xA0
	case c == 0xED:
		need, hi = 3, 0x9F
	case 0xE1 <= c && c <= 0xEF:
		need = 3
	case c == 0xF0:
		need, lo = 4, 0x90
	case c == 0xF4:
		need, hi = 4, 0x8F
	case 0xF1 <= c && c <= 0xF3:
		need = 4
	default:
		return 0, 1
	}
	valid = 1
	for valid < need && valid < len(b) && lo <= b[valid] && b[valid] <= hi {
		lo, hi = 0x80, 0xBF
		valid++
	}
	return valid, need
}

// appendLossy appends b to dst as valid UTF-8, replacing each maximal
// invalid subpart by U+FFFD.
func appendLossy(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for len(b) > 0 {
		valid, need := sequencePrefix(b)
		if valid == need {
			dst = append(dst, b[:need]...)
			b = b[need:]
			continue
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
		b = b[max(valid, 1):]
	}
	return dst
}

// incompleteTail returns the length of the trailing bytes of b that are a
// valid but unfinished UTF-8 sequence, which later bytes may complete.
func incompleteTail(b []byte) int {
	for n := 1; n <= 3 && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < 0x80 {
			return 0
		}
		if c >= 0xC0 { // a lead byte (or an invalid one)
			valid, need := sequencePrefix(b[len(b)-n:])
			if valid == n && n < need {
				return n
			}
			return 0
		}
	}
	return 0
}

// StreamDecoder decodes ids one at a time during generation. The text it
// returns, concatenated and followed by Flush's, equals Decode of all the ids.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	pending     []byte // an unfinished UTF-8 sequence
}

// NewStreamDecoder returns a decoder that skips special tokens if
// skipSpecial is set.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Add decodes one more id and returns the text completed by it. Bytes of a
// character that is not yet complete are held back until a later Add or
// Flush.
func (d *StreamDecoder) Add(id int) string {
	d.pending = d.t.appendBytes(d.pending, id, d.skipSpecial)
	keep := incompleteTail(d.pending)
	done := len(d.pending) - keep
	if done == 0 {
		return ""
	}
	out := string(appendLossy(nil, d.pending[:done]))
	d.pending = append(d.pending[:0], d.pending[done:]...)
	return out
}

// Flush returns the held-back bytes (as U+FFFD, since they are not valid
// UTF-8 on their own) and resets the decoder.
func (d *StreamDecoder) Flush() string {
	out := string(appendLossy(nil, d.pending))
	d.pending = d.pending[:0]
	return out
}
