package contract

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	numWords = `one hundred and eighty|one hundred eighty|one hundred twenty|three hundred sixty-five|three hundred and sixty-five|one hundred|twenty-four|thirty-six|forty-eight|forty-five|seventy-five|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|(?:I)`
	// "two (2) years", "ninety ("90") days", "30 days", "one-year", "six months"
	reDuration = regexp.MustCompile(`(?i)\b(?:(?:` + numWords + `)[ \-]*)?(?:\(\s*["“]?(\d+|I)["”]?\s*\)|(\d+)|(` + numWords + `))[ \-]*(?:\(\d+\)\s*)?(business |calendar |working |consecutive )?(day|week|month|year)s?\b`)
	wordNum    = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "twenty-four": 24, "thirty": 30, "thirty-six": 36, "forty": 40, "forty-five": 45, "forty-eight": 48, "fifty": 50, "sixty": 60, "seventy": 70, "seventy-five": 75, "eighty": 80, "ninety": 90, "one hundred": 100, "one hundred twenty": 120, "one hundred eighty": 180, "one hundred and eighty": 180, "three hundred sixty-five": 365, "three hundred and sixty-five": 365, "i": 1}
	months     = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	monthRe    = `(January|February|March|April|May|June|July|August|September|October|November|December|Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)`
	reDateMDY  = regexp.MustCompile(`(?i)\b` + monthRe + `\s+(\d{1,2})\s*(?:st|nd|rd|th)?,?\s+(\d{4})\b`)
	reDateDMY  = regexp.MustCompile(`(?i)\b(\d{1,2})\s*(?:st|nd|rd|th|t h|s t|n d|r d)?\s+(?:day\s+of\s+|of\s+)?` + monthRe + `,?\s+(\d{4})\b`)
	reDateNum  = regexp.MustCompile(`\b(\d{1,2})([/.\-])(\d{1,2})[/.\-](\d{4}|\d{2})\b`)
)

// Duration is a time span found in text.
type Duration struct {
	N    int
	Unit string // day, week, month, year
	Text string // as written: "two (2) years"
	Pos  int
}

// Normal is "2 years", "30 days".
func (d Duration) Normal() string {
	if d.N == 1 {
		return "1 " + d.Unit
	}
	return fmt.Sprintf("%d %ss", d.N, d.Unit)
}

// FindDurations lists the durations in s.
func FindDurations(s string) []Duration {
	var out []Duration
	for _, m := range reDuration.FindAllStringSubmatchIndex(s, -1) {
		var n int
		switch {
		case m[2] >= 0:
			n = parseCount(s[m[2]:m[3]])
		case m[4] >= 0:
			n, _ = strconv.Atoi(s[m[4]:m[5]])
		case m[6] >= 0:
			w := s[m[6]:m[7]]
			if w == "I" || w == "i" {
				continue // a lone "I" is a pronoun, not "one"
			}
			n = parseCount(w)
		}
		if n <= 0 {
			continue
		}
		unit := strings.ToLower(s[m[10]:m[11]])
		text := strings.TrimSpace(s[m[0]:m[1]])
		out = append(out, Duration{N: n, Unit: unit, Text: text, Pos: m[0]})
	}
	return out
}

func parseCount(w string) int {
	if n, err := strconv.Atoi(w); err == nil {
		return n
	}
	return wordNum[strings.ToLower(strings.Join(strings.Fields(w), " "))]
}

// Date is a calendar date found in text.
type Date struct {
	Y, M, D int
	Text    string
	Pos     int
}

// String is "September 7, 1999".
func (d Date) String() string { return fmt.Sprintf("%s %d, %d", months[d.M-1], d.D, d.Y) }

func monthNum(s string) int {
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	for i, m := range months {
		if strings.HasPrefix(strings.ToLower(m), s[:min(3, len(s))]) {
			return i + 1
		}
	}
	return 0
}

// fullYear reads a two-digit year as 1951-2050 ("3/14/18" is 2018, "8/9/99"
// 1999); other years are as written.
func fullYear(y int) int {
	if y >= 100 {
		return y
	}
	if y += 2000; y > 2050 {
		y -= 100
	}
	return y
}

// FindDates lists the dates in s: "September 7, 1999", "7th day of
// September, 1999", "3/14/2018" (month first) and "1.4.2011" (day first).
func FindDates(s string) []Date {
	var out []Date
	add := func(y, m, d, pos int, text string) {
		y = fullYear(y)
		if m >= 1 && m <= 12 && d >= 1 && d <= 31 && y >= 1900 && y <= 2100 {
			out = append(out, Date{Y: y, M: m, D: d, Text: text, Pos: pos})
		}
	}
	for _, m := range reDateMDY.FindAllStringSubmatchIndex(s, -1) {
		d, _ := strconv.Atoi(s[m[4]:m[5]])
		y, _ := strconv.Atoi(s[m[6]:m[7]])
		add(y, monthNum(s[m[2]:m[3]]), d, m[0], s[m[0]:m[1]])
	}
	for _, m := range reDateDMY.FindAllStringSubmatchIndex(s, -1) {
		d, _ := strconv.Atoi(s[m[2]:m[3]])
		y, _ := strconv.Atoi(s[m[6]:m[7]])
		add(y, monthNum(s[m[4]:m[5]]), d, m[0], s[m[0]:m[1]])
	}
	for _, m := range reDateNum.FindAllStringSubmatchIndex(s, -1) {
		a, _ := strconv.Atoi(s[m[2]:m[3]])
		b, _ := strconv.Atoi(s[m[6]:m[7]])
		y, _ := strconv.Atoi(s[m[8]:m[9]])
		if s[m[4]:m[5]] == "." {
			a, b = b, a // dotted dates are day first
		}
		add(y, a, b, m[0], s[m[0]:m[1]])
	}
	// order by position
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Pos < out[j-1].Pos; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// abbreviations that end with a period without ending a sentence.
var abbrevs = map[string]bool{"inc": true, "corp": true, "ltd": true, "co": true, "no": true, "nos": true, "sec": true, "e.g": true, "i.e": true, "u.s": true, "s.p.a": true, "mr": true, "ms": true, "dr": true, "st": true, "l.l.c": true, "n.v": true, "b.v": true, "s.a": true, "u.s.a": true, "jr": true, "vs": true, "etc": true}

// Sentences splits clause text into sentences at a period, question or
// exclamation mark followed by a space and anything but a lower-case word
// or punctuation, except after abbreviations ("Inc.", "Sec."), single
// letters and plain numbers ("Section 5. Term" may be a heading; "Section
// 8.1. Financial" ends a sentence).
func Sentences(text string) []string {
	var out []string
	start := 0
	for i := 0; i < len(text); i++ {
		if !sentenceEndAt(text, i) {
			continue
		}
		if s := strings.TrimSpace(text[start : i+1]); s != "" {
			out = append(out, s)
		}
		start = i + 2
	}
	if s := strings.TrimSpace(text[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// sentenceEndAt reports whether text[i] ends a sentence (see Sentences);
// the space after it may be any white space.
func sentenceEndAt(text string, i int) bool {
	if (text[i] != '.' && text[i] != '!' && text[i] != '?') || i+2 >= len(text) || !unicode.IsSpace(rune(text[i+1])) {
		return false
	}
	rest := strings.TrimLeft(text[i+1:], " \t\r\n")
	if rest == "" {
		return false
	}
	next, _ := utf8.DecodeRuneInString(rest)
	if unicode.IsLower(next) || next == ',' || next == ';' || next == ')' {
		return false
	}
	if text[i] == '.' {
		j := strings.LastIndexAny(text[:i], " \t\r\n/") // "Liu/Dr." ends on "Dr."
		word := strings.ToLower(strings.Trim(text[j+1:i], "(\"“"))
		if abbrevs[word] || len(word) <= 1 || (len(word) <= 3 && strings.Count(word, ".") > 0) || (isNumberToken(word) && !strings.Contains(word, ".")) {
			return false
		}
	}
	return true
}

func isNumberToken(w string) bool {
	for _, r := range w {
		if !unicode.IsDigit(r) && r != '.' && r != '(' && r != ')' {
			return false
		}
	}
	return w != ""
}

// durationText is a duration as written, made plural when the text
// leaves it singular ("five (5) year basis" reads "five (5) years").
func durationText(d Duration) string {
	t := d.Text
	if d.N != 1 && !strings.HasSuffix(strings.ToLower(t), "s") && !strings.Contains(t, "-") {
		t += "s"
	}
	return t
}

func hasAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
