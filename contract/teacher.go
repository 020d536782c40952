package contract

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tune-dev/tune/eval"
)

// Teacher answers one chat turn: a language model behind an
// OpenAI-compatible API (tune gen-data --teacher_url).
type Teacher interface {
	Ask(ctx context.Context, system, user string) (string, error)
}

// TeachStats counts what a teacher was asked and what was kept; the
// Dropped maps count the rejected replies by reason.
type TeachStats struct {
	Facts            int            `json:"facts_asked_about"`
	Questions        int            `json:"questions_kept"`
	Answers          int            `json:"answers_kept"`
	DroppedQuestions map[string]int `json:"questions_dropped"`
	DroppedAnswers   map[string]int `json:"answers_dropped"`
	Duplicates       int            `json:"duplicates_dropped"`
}

// The teacher's instructions.
const (
	teacherSystem    = "You rewrite and answer questions about commercial contracts. Reply with the requested text only, on one line."
	paraphrasePrompt = "Rewrite this question about a contract in other words, keeping its meaning. Reply with the question only.\n\nQuestion: %s"
	answerPrompt     = "Contract clause (%s):\n%s\n\nFact extracted from it: %s\n\nQuestion: %s\n\n" +
		"Answer the question in one or two sentences using only the clause. Cite %s by name. " +
		"Give every date, amount and duration exactly as the clause states it."
)

// Teach asks t, for each base fact record of ds (the first paraphrase, the
// clause alone), to paraphrase its question and to phrase its answer from
// the extracted fact, workers requests at a time. Each paraphrase that
// passes CheckTeacherQuestion becomes a record with the rule's answer; each
// answer that passes CheckTeacherAnswer against the record's clause becomes
// a record with the original question. New records join the split of the
// record they come from (so no clause crosses splits), with variants
// "teacher/question" and "teacher/answer"; duplicates are dropped. The
// counts go to ds.Stats.Teacher. A failing request stops it with an
// error naming the record.
func Teach(ctx context.Context, ds *Dataset, t Teacher, workers int) error {
	type task struct {
		split int
		rec   Record
	}
	var tasks []task
	for i, recs := range [][]Record{ds.Train, ds.Validation, ds.Test} {
		for _, r := range recs {
			if r.Kind == KindFact && r.Variant == baseVariant {
				tasks = append(tasks, task{i, r})
			}
		}
	}
	type reply struct {
		question, answer string
		err              error
	}
	replies := make([]reply, len(tasks))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < max(workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := tasks[i].rec
				ctxText, question := splitInput(r.Input)
				label, _, _ := citation(r.Output)
				rp := &replies[i]
				if rp.question, rp.err = t.Ask(ctx, teacherSystem, fmt.Sprintf(paraphrasePrompt, question)); rp.err == nil {
					rp.answer, rp.err = t.Ask(ctx, teacherSystem, fmt.Sprintf(answerPrompt, label, ctxText, r.Output, question, label))
				}
				if rp.err != nil {
					cancel()
				}
			}
		}()
	}
	for i := range tasks {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	// The first failure, rather than the requests it cancelled.
	var failed error
	for i, rp := range replies {
		if rp.err != nil && (failed == nil || errors.Is(failed, context.Canceled) && !errors.Is(rp.err, context.Canceled)) {
			r := tasks[i].rec
			failed = fmt.Errorf("teacher: %s, clause %s, %s question: %w", r.Source, r.ClauseID, r.FactType, rp.err)
		}
	}
	if failed != nil {
		return failed
	}
	st := &TeachStats{Facts: len(tasks), DroppedQuestions: map[string]int{}, DroppedAnswers: map[string]int{}}
	seen := map[string]bool{}
	for _, r := range ds.All {
		seen[recordKey(r)] = true
	}
	splits := []*[]Record{&ds.Train, &ds.Validation, &ds.Test}
	add := func(split int, r Record) bool {
		k := recordKey(r)
		if seen[k] {
			st.Duplicates++
			return false
		}
		seen[k] = true
		*splits[split] = append(*splits[split], r)
		ds.All = append(ds.All, r)
		return true
	}
	for i, tk := range tasks {
		rp := replies[i]
		ctxText, question := splitInput(tk.rec.Input)
		if q, err := CheckTeacherQuestion(rp.question, question); err != nil {
			st.DroppedQuestions[err.Error()]++
		} else {
			r := tk.rec
			r.Input, r.Variant = recordInput(ctxText, q), "teacher/question"
			if add(tk.split, r) {
				st.Questions++
			}
		}
		label, _, _ := citation(tk.rec.Output)
		if a, err := CheckTeacherAnswer(rp.answer, ctxText, label); err != nil {
			st.DroppedAnswers[err.Error()]++
		} else {
			r := tk.rec
			r.Output, r.Variant = a, "teacher/answer"
			if add(tk.split, r) {
				st.Answers++
			}
		}
	}
	ds.Stats.Teacher = st
	ds.Stats.count(ds)
	return nil
}

// oneLine is a reply as a single line: trimmed, without quotes around the
// whole of it; "" when it spans several lines.
func oneLine(reply string) string {
	s := strings.TrimSpace(reply)
	if strings.ContainsAny(s, "\r\n") {
		return ""
	}
	for _, q := range [][2]string{{`"`, `"`}, {"“", "”"}} {
		if len(s) >= 2 && strings.HasPrefix(s, q[0]) && strings.HasSuffix(s, q[1]) && !strings.Contains(s[len(q[0]):len(s)-len(q[1])], q[0]) {
			return strings.TrimSpace(s[len(q[0]) : len(s)-len(q[1])])
		}
	}
	return s
}

// CheckTeacherQuestion accepts a teacher's paraphrase of question: one line
// ending with a question mark, of 10 to 300 bytes, other than the question
// itself. It returns the paraphrase trimmed, or the reason it is dropped.
func CheckTeacherQuestion(reply, question string) (string, error) {
	q := oneLine(reply)
	switch {
	case q == "":
		return "", fmt.Errorf("empty or more than one line")
	case !strings.HasSuffix(q, "?"):
		return "", fmt.Errorf("not a question")
	case len(q) < 10 || len(q) > 300:
		return "", fmt.Errorf("shorter than 10 or longer than 300 bytes")
	case normalize(q) == normalize(question):
		return "", fmt.Errorf("the question unchanged")
	}
	return q, nil
}

// CheckTeacherAnswer accepts a teacher's answer about clause (its text),
// cited as label ("Section 2.1", "the Preamble"): one line; citing the
// clause's number, and no other clause (a label without a number, such as
// the Preamble, must be named); and every date, amount and duration it
// states found in the clause. It returns the answer trimmed, or the
// reason it is dropped.
func CheckTeacherAnswer(reply, clause, label string) (string, error) {
	a := oneLine(reply)
	if a == "" || len(a) > 1500 {
		return "", fmt.Errorf("empty, longer than 1500 bytes or more than one line")
	}
	if want := eval.Citations(label); len(want) > 0 {
		got := eval.Citations(a)
		if !slices.Equal(got, want) {
			return "", fmt.Errorf("does not cite the clause's number alone")
		}
	} else if !strings.Contains(strings.ToLower(a), strings.ToLower(strings.TrimPrefix(label, "the "))) {
		return "", fmt.Errorf("does not name the clause")
	}
	for _, d := range FindDates(a) {
		if !slices.ContainsFunc(FindDates(clause), func(c Date) bool { return c.Y == d.Y && c.M == d.M && c.D == d.D }) {
			return "", fmt.Errorf("a date not in the clause")
		}
	}
	for _, d := range FindDurations(a) {
		if !slices.ContainsFunc(FindDurations(clause), func(c Duration) bool { return c.N == d.N && c.Unit == d.Unit }) {
			return "", fmt.Errorf("a duration not in the clause")
		}
	}
	for _, m := range FindAmounts(a) {
		if !slices.Contains(FindAmounts(clause), m) {
			return "", fmt.Errorf("an amount not in the clause")
		}
	}
	return a, nil
}

// reAmount is a sum of money: "$1,500,000", "$2.5 million", "USD 10,000",
// "EUR 5 000", "€40", "£1.2m", "15,000 dollars".
var reAmount = regexp.MustCompile(`(?i)(?:(\$|€|£|\b(?:USD|US\$|EUR|GBP)\s?)\s?(\d[\d,]*(?:\.\d+)?)|\b(\d[\d,]*(?:\.\d+)?)\s?(dollars|euros|pounds))(?:\s?(million|billion|thousand|m|bn|k)\b)?`)

// FindAmounts lists the sums of money in s as "<currency> <value>", the
// value in units without grouping ("$ 2500000" for "$2.5 million").
func FindAmounts(s string) []string {
	var out []string
	for _, m := range reAmount.FindAllStringSubmatch(s, -1) {
		cur, num := m[1], m[2]
		if cur == "" {
			cur, num = m[4], m[3]
		}
		cur = strings.ToUpper(strings.TrimSpace(cur))
		switch cur {
		case "DOLLARS", "US$", "USD":
			cur = "$"
		case "EUROS", "EUR":
			cur = "€"
		case "POUNDS", "GBP":
			cur = "£"
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(num, ",", ""), 64)
		if err != nil {
			continue
		}
		switch strings.ToLower(m[5]) {
		case "thousand", "k":
			v *= 1e3
		case "million", "m":
			v *= 1e6
		case "billion", "bn":
			v *= 1e9
		}
		out = append(out, cur+" "+strconv.FormatFloat(v, 'f', -1, 64))
	}
	return out
}
