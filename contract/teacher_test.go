package contract

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckTeacherAnswer(t *testing.T) {
	clause := `2.1 Term. This Agreement begins on March 3, 2025 and continues for three (3) years. Client shall pay a fee of $25,000 per month.`
	for _, c := range []struct {
		answer, label, why string
	}{
		{`Under Section 2.1, the agreement runs for three (3) years from March 3, 2025.`, "Section 2.1", ""},
		{`Section 2.1 sets a monthly fee of $25,000 and a 3-year term.`, "Section 2.1", ""},
		{`  "Per Section 2.1, the fee is USD 25,000 each month."  `, "Section 2.1", ""},
		{`Under Section 2.1, the agreement runs for five (5) years.`, "Section 2.1", "a duration not in the clause"},
		{`Under Section 2.1, the agreement begins on March 4, 2025.`, "Section 2.1", "a date not in the clause"},
		{`Under Section 2.1, the fee is $2.5 million.`, "Section 2.1", "an amount not in the clause"},
		{`Under Section 2.2, the term is three (3) years.`, "Section 2.1", "does not cite the clause's number alone"},
		{`Under Sections 2.1 and 4, the term is three (3) years.`, "Section 2.1", "does not cite the clause's number alone"},
		{`The term is three (3) years.`, "Section 2.1", "does not cite the clause's number alone"},
		{"Under Section 2.1,\nthe term is three (3) years.", "Section 2.1", "empty, longer than 1500 bytes or more than one line"},
		{`As the Preamble says, the agreement is dated March 3, 2025.`, "the Preamble", ""},
		{`The agreement is dated March 3, 2025.`, "the Preamble", "does not name the clause"},
	} {
		got, err := CheckTeacherAnswer(c.answer, clause, c.label)
		if c.why == "" {
			require.NoError(t, err, c.answer)
			require.Equal(t, strings.Trim(strings.TrimSpace(c.answer), `"`), got)
		} else {
			require.EqualError(t, err, c.why, c.answer)
		}
	}
	require.Equal(t, []string{"$ 2500000", "€ 40", "£ 1200", "$ 15000"}, FindAmounts("$2.5 million, EUR 40, £1.2k and 15,000 dollars"))
}

// fakeTeacher answers like a good teacher, except that it hallucinates a
// duration in every third answer and repeats every fourth question.
type fakeTeacher struct{ calls atomic.Int64 }

var (
	reQuestion = regexp.MustCompile(`(?s)Question: (.*?)(?:\n\n|$)`)
	reFact     = regexp.MustCompile(`Fact extracted from it: (.*)\n`)
)

func (f *fakeTeacher) Ask(_ context.Context, _, user string) (string, error) {
	n := f.calls.Add(1)
	q := reQuestion.FindStringSubmatch(user)[1]
	if !strings.Contains(user, "Fact extracted") {
		if n%4 == 1 {
			return q, nil
		}
		return "In other words: " + q, nil
	}
	fact := reFact.FindStringSubmatch(user)[1]
	if n%3 == 0 {
		return "In short: " + fact + " It lasts ninety-nine (99) years.", nil
	}
	return "In short: " + fact, nil
}

func TestTeach(t *testing.T) {
	cs, _, err := ParsePath(filepath.Join(fixtures, "headings.txt"))
	require.NoError(t, err)
	ds := Generate(cs, DefaultGenOptions())
	before := len(ds.All)
	split := map[string]int{} // clause -> split of its records
	for i, recs := range [][]Record{ds.Train, ds.Validation, ds.Test} {
		for _, r := range recs {
			split[r.Source+"/"+r.ClauseID] = i
		}
	}
	ft := &fakeTeacher{}
	require.NoError(t, Teach(context.Background(), ds, ft, 3))
	st := ds.Stats.Teacher
	require.NotNil(t, st)
	require.Positive(t, st.Facts)
	require.EqualValues(t, 2*st.Facts, ft.calls.Load())
	kept := st.Questions + sum(st.DroppedQuestions)
	require.True(t, kept <= st.Facts && kept >= st.Facts-st.Duplicates, "every paraphrase is kept, dropped or a duplicate")
	require.Positive(t, st.Answers)
	require.Positive(t, st.DroppedAnswers["a duration not in the clause"])
	require.Positive(t, st.DroppedQuestions["the question unchanged"])
	require.Equal(t, before+st.Questions+st.Answers, len(ds.All))
	require.Equal(t, len(ds.All), len(ds.Train)+len(ds.Validation)+len(ds.Test))
	for i, recs := range [][]Record{ds.Train, ds.Validation, ds.Test} {
		for _, r := range recs {
			if strings.HasPrefix(r.Variant, "teacher/") {
				require.Equal(t, split[r.Source+"/"+r.ClauseID], i, "a teacher record stays in its clause's split")
			}
		}
	}
	require.Contains(t, FormatStats(ds), "teacher: asked about")

	// A teacher that fails stops it with the record named.
	ds = Generate(cs, DefaultGenOptions())
	err = Teach(context.Background(), ds, failing{}, 2)
	require.ErrorContains(t, err, "teacher: ")
	require.ErrorContains(t, err, "connection refused")
}

type failing struct{}

func (failing) Ask(context.Context, string, string) (string, error) {
	return "", errors.New("dial tcp 127.0.0.1:1: connection refused")
}
