package serve

import (
	"strings"

	"github.com/tune-dev/tune/qwen/tokenizer"
)

// answer turns a job's tokens into text as they arrive and applies the
// request's stop sequences: the text ends before the first one, and
// streaming holds back any tail that could still become one.
type answer struct {
	dec     *tokenizer.StreamDecoder
	stops   []string
	text    string // decoded so far, cut before a matched stop sequence
	sent    int    // bytes of text already streamed
	stopped bool   // a stop sequence matched
}

func newAnswer(tok *tokenizer.Tokenizer, stops []string) *answer {
	return &answer{dec: tok.NewStreamDecoder(true), stops: stops}
}

// add decodes one token; it reports whether a stop sequence matched.
func (a *answer) add(id int32) bool {
	if !a.stopped {
		a.append(a.dec.Add(int(id)))
	}
	return a.stopped
}

// flush decodes what the stream decoder still holds (a partial UTF-8
// sequence at the end).
func (a *answer) flush() {
	if !a.stopped {
		a.append(a.dec.Flush())
	}
}

// append adds decoded text and ends the text before the earliest stop
// sequence in it. The text before held none, so only a match that ends in
// the new text is looked for: the answer is not scanned again per token.
func (a *answer) append(s string) {
	old := len(a.text)
	a.text += s
	at := -1
	for _, stop := range a.stops {
		from := max(0, old-len(stop)+1)
		if i := strings.Index(a.text[from:], stop); i >= 0 && (at < 0 || from+i < at) {
			at = from + i
		}
	}
	if at >= 0 {
		a.text, a.stopped = a.text[:at], true
	}
}

// ready returns the text that can be streamed now: everything not yet
// sent but a tail that is a prefix of a stop sequence (all of it once
// final).
func (a *answer) ready(final bool) string {
	end := len(a.text)
	if !final && !a.stopped {
		for _, s := range a.stops {
			for n := min(len(s)-1, end-a.sent); n > 0; n-- {
				if strings.HasSuffix(a.text, s[:n]) {
					end = min(end, len(a.text)-n)
					break
				}
			}
		}
	}
	if end <= a.sent {
		return ""
	}
	out := a.text[a.sent:end]
	a.sent = end
	return out
}
