package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// byteRune is GPT-2's bytes_to_unicode table: printable Latin-1 bytes map to
// themselves, the others (controls, space, DEL, NBSP, soft hyphen) to U+0100
// onwards in byte order.
var byteRune = func() (t [256]rune) {
	next := rune(256)
	for b := range 256 {
		switch {
		case '!' <= b && b <= '~', 0xA1 <= b && b <= 0xAC, 0xAE <= b && b <= 0xFF:
			t[b] = rune(b)
		default:
			t[b] = next
			next++
		}
	}
	return t
}()

// ByteToken is how a byte-level vocabulary spells the single byte b
// (through byteRune).
func ByteToken(b byte) string { return string(byteRune[b]) }

// runeByte inverts byteRune.
var runeByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteRune {
		m[r] = byte(b)
	}
	return m
}()

// byteLevelDecode returns the bytes a token decodes to, like the Hugging Face
// ByteLevel decoder: each character mapped back through byteRune, or the
// token's own UTF-8 bytes when it has a character outside that alphabet (as
// added tokens may).
func byteLevelDecode(token string) []byte {
	out := make([]byte, 0, len(token))
	for _, r := range token {
		b, ok := runeByte[r]
		if !ok {
			return []byte(token)
		}
		out = append(out, b)
	}
	return out
}

// Cache limits: words longer than maxCachedWord bytes are not cached, and
// the cache stops growing at maxCacheEntries words (as in Hugging Face
// tokenizers, whose cache also never evicts).
const (
	maxCachedWord   = 256
	maxCacheEntries = 100_000
)

// bpe is the byte-level BPE model.
type bpe struct {
	vocab        map[string]int
	byteID       [256]int          // id of each byte's single-character token
	merges       map[uint64]uint64 // pairKey(left, right) -> rank<<32 | merged id
	ignoreMerges bool              // look a whole word up in the vocabulary first
	digits       int               // the most digits in one pre-token (the split pattern's \p{N} repeat)

	mu    sync.RWMutex
	cache map[string][]int // pre-token bytes -> ids
}

func newBPE(vocab map[string]int, ignoreMerges bool, digits int) (*bpe, error) {
	m := &bpe{
		vocab:        vocab,
		merges:       make(map[uint64]uint64),
		ignoreMerges: ignoreMerges,
		digits:       digits,
		cache:        make(map[string][]int),
	}
	for b, r := range byteRune {
		id, ok := vocab[string(r)]
		if !ok {
			return nil, fmt.Errorf("vocab lacks the byte-level token %q for byte %#02x", string(r), b)
		}
		m.byteID[b] = id
	}
	return m, nil
}

func pairKey(left, right int) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// addMerge records the merge of tokens a and b with the given rank; a later
// duplicate replaces an earlier one, as in Hugging Face tokenizers.
func (m *bpe) addMerge(a, b string, rank int) error {
	ida, oka := m.vocab[a]
	idb, okb := m.vocab[b]
	if !oka || !okb {
		return fmt.Errorf("merge %q %q: token not in vocab", a, b)
	}
	merged, ok := m.vocab[a+b]
	if !ok {
		return fmt.Errorf("merge %q %q: merged token %q not in vocab", a, b, a+b)
	}
	m.merges[pairKey(ida, idb)] = uint64(rank)<<32 | uint64(uint32(merged))
	return nil
}

// encodeText splits normalized text into pre-tokens and appends their ids
// to ids. Cached words are looked up under one read lock; new results are
// added to the cache in batches of flushEvery words.
func (m *bpe) encodeText(ids []int, text string) []int {
	const flushEvery = 64
	type miss struct {
		word       string
		start, end int // in ids
	}
	var misses []miss
	flush := func() {
		m.mu.Lock()
		for _, e := range misses {
			if len(m.cache) >= maxCacheEntries {
				break
			}
			m.cache[strings.Clone(e.word)] = slices.Clone(ids[e.start:e.end])
		}
		m.mu.Unlock()
		misses = misses[:0]
	}
	m.mu.RLock()
	for i := 0; i < len(text); {
		j := nextPreToken(text, i, m.digits)
		word := text[i:j]
		i = j
		if len(word) == 1 {
			ids = append(ids, m.byteID[word[0]])
			continue
		}
		if cached, ok := m.cache[word]; ok {
			ids = append(ids, cached...)
			continue
		}
		n := len(ids)
		ids = m.merge(ids, word)
		if len(word) <= maxCachedWord {
			misses = append(misses, miss{word, n, len(ids)})
		}
		if len(misses) == flushEvery {
			m.mu.RUnlock()
			flush()
			m.mu.RLock()
		}
	}
	m.mu.RUnlock()
	if len(misses) > 0 {
		flush()
	}
	return ids
}

// symbol is a token in a word being merged, linked to its neighbours.
type symbol struct {
	id         int
	prev, next int // indexes in the word, -1 at the ends
}

// candidate is a possible merge of the symbols at left and right.
type candidate struct {
	rank        uint32
	left, right int // symbol indexes
	leftID      int // ids when the candidate was made, to detect stale ones
	rightID     int
	merged      int
}

// merge appends the BPE encoding of word to ids: starting from one symbol
// per byte it repeatedly applies the lowest-ranked merge, the leftmost one
// among equals, until no merge applies.
func (m *bpe) merge(ids []int, word string) []int {
	if m.ignoreMerges {
		if id, ok := m.vocab[byteLevelEncode(word)]; ok {
			return append(ids, id)
		}
	}
	syms := make([]symbol, len(word))
	for i := range syms {
		syms[i] = symbol{id: m.byteID[word[i]], prev: i - 1, next: i + 1}
	}
	syms[len(syms)-1].next = -1

	var h mergeHeap
	push := func(left int) {
		if left < 0 || syms[left].next < 0 {
			return
		}
		right := syms[left].next
		v, ok := m.merges[pairKey(syms[left].id, syms[right].id)]
		if !ok {
			return
		}
		h.push(candidate{rank: uint32(v >> 32), left: left, right: right,
			leftID: syms[left].id, rightID: syms[right].id, merged: int(uint32(v))})
	}
	for i := range len(syms) - 1 {
		push(i)
	}
	for len(h) > 0 {
		c := h.pop()
		l := &syms[c.left]
		if l.next != c.right || l.id != c.leftID || syms[c.right].id != c.rightID {
			continue // stale: one of the symbols was merged since
		}
		l.id = c.merged
		l.next = syms[c.right].next
		if l.next >= 0 {
			syms[l.next].prev = c.left
		}
		syms[c.right].id = -1
		push(l.prev)
		push(c.left)
	}
	for i := 0; i >= 0; i = syms[i].next {
		ids = append(ids, syms[i].id)
	}
	return ids
}

// byteLevelEncode maps raw bytes to the byte-level alphabet.
func byteLevelEncode(word string) string {
	buf := make([]byte, 0, 2*len(word))
	for i := range len(word) {
		buf = utf8.AppendRune(buf, byteRune[word[i]])
	}
	return string(buf)
}

// mergeHeap is a binary min-heap of candidates ordered by rank, then by
// position (Hugging Face's order).
type mergeHeap []candidate

func (h mergeHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].left < h[j].left
}

func (h *mergeHeap) push(c candidate) {
	*h = append(*h, c)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() candidate {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s.less(l, m) {
			m = l
		}
		if r < len(s) && s.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
