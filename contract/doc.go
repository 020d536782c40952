// Package contract reads legal contracts into a tree of numbered clauses and
// generates cited question-answer records from them for LoRA fine-tuning.
//
// # Input formats
//
// ParseFile and ParsePath (a file or every file of a folder) accept:
//
//   - Reducto parsed-PDF JSON: result.chunks[] holding flat blocks
//     {type, content, bbox: {page}, confidence} or chunks[].blocks[]. The
//     first Title block names the contract. Every block starts a line, so a
//     Section Header block or a Text or List Item block that opens with a
//     clause number ("2.1 Transition Services ...") is a heading candidate;
//     Section Headers weigh more in the chain search below. Offsets refer to
//     the block contents joined by blank lines (Contract.Text).
//   - Structured JSON: {title, parties, articles: [{number, title, text,
//     sections: [...]}]}, nested to any depth.
//   - Plain text (anything else), such as the CUAD contracts.
//
// A file with NUL bytes (binary, UTF-16) or with more than 1% of its bytes
// not UTF-8 is not text (ErrNotText): ParseFile refuses it, ParsePath skips
// it in a folder and names it. A few bytes that are not UTF-8 (a Latin-1
// accent) give a warning with the offset of the first. Malformed JSON is
// reported with file and line; unreadable and empty files with the file
// name.
//
// # Heading detection in plain text
//
// Candidates are looked for at each line start (indentation ignored) and,
// for contracts flattened onto long lines, after a sentence end, after a rule
// of dashes, or before a dotted number ("Rights 1.1 Subject") that is not
// preceded by a reference word (Section, Article, and, of, under, ...). A
// candidate is "ARTICLE V"/"Article 118", "Section 3.1", "§ 3.1", "5.",
// "5.2", "5.2(a)" followed by a capitalised word, or, at line start only,
// "(a)" or "a." and EXHIBIT/SCHEDULE/ANNEX/APPENDIX/ATTACHMENT lines (whose
// title ends where a table on the same line begins). So "pursuant to
// Section 4.1" never is a heading, and a bare number needs a following
// capital. Numbers of any size up to three digits are accepted.
//
// The headings are the numbered candidates that form the best-scoring
// consistent sequence (bestChain, a dynamic programme over all candidate
// pairs): each heading is the next sibling at some open level or the first
// child of the one before, at most three numbers skipped. A heading counts
// about one, a bit more when it starts a line, has a title, has its title on
// a line of its own or is a Reducto Section Header; skipped numbers,
// siblings a few dozen bytes apart (table of contents lines), members of a
// numbered run that restarted at 1 inside the body (a list within a
// clause), and a late start (beyond the usual title, parties and recitals)
// cost. So a list "1. 2. 3." inside Section 2.2, or a numbered party list in
// the preamble, stays clause text and never swallows the real 2.3, 3 and
// 3.1; a table of contents loses to the body it lists (and a warning says
// it was skipped). Lettered paragraphs at line starts attach to the
// numbered clause they follow, in sequence from (a). Exhibits after the
// last numbered heading become one clause each. Text before the first
// heading is the Preamble. Page footers ("Source: ..., 7/29/2019"), page
// numbers and the SEC redaction legend are removed from clause text, while
// Start/End stay byte offsets into the original file. With fewer than two
// numbered headings the contract falls back to paragraphs "¶1", "¶2", ...
// (cited "Paragraph 1") and Contract.Warnings says so.
//
// Clause ids are as written ("5.2", "5.2(a)", "V"); kinds are article,
// section, subsection, paragraph (plus preamble and exhibit); Label is the
// citation ("Section 5.2", "Article V", "the Preamble"). The contract's
// title is a short line naming a document type (AGREEMENT, CONTRACT, LEASE,
// ... in any case), else an upper-case name ending in one that opens its
// line (after an exhibit number at most) and holds no verb or reference
// word (not "... RELATED TO THIS AGREEMENT" in a liability sentence set in
// capitals), else the name in "This <X Agreement>". Its parties are the company names in the sentence
// that introduces them ("by and between"), never in recitals, references
// to other agreements or letter addressees. Contract.Outline renders the
// tree for reading (tune parse --format outline).
//
// # Facts
//
// ExtractFacts applies sentence rules to every clause that is not an
// exhibit: title, parties and agreement date from the preamble (else the
// latest signature date); effective date, initial term, renewal term,
// notice to prevent renewal, termination notice and for convenience, cure,
// warranty and defect liability periods, payment terms, governing law,
// jurisdiction, liability caps, consequential damages exclusions,
// liquidated damages and termination fees, insurance, confidentiality,
// assignment, audit rights, indemnification, non-compete, non-solicitation
// of employees, exclusivity, force majeure and notices.
//
// A rule prefers no answer to a wrong one. It runs on one quotable unit
// (a whole sentence; a sentence that leans on the one before, "Such events
// ...", joined to it; a sentence longer than maxQuote only through a
// semicolon part that stands alone, is not qualified by a proviso and does
// not stop inside a list that the next part goes on with), and answers
// only when that unit states the fact itself: the value (date, duration,
// place, amount) is found in it, about this agreement, with the verb that
// makes it a duty or a right ("may terminate this Agreement ... without
// cause", "shall not assign this Agreement"), not a definition or an
// exclusion from one, an exception or a mention. A unit whose subject is
// only referred to ("the payment of such amount ...") answers nothing.
// Some rules look closer: a renewal term is the length given to the
// renewal, not an initial term stated before it; termination for
// convenience ends this agreement (not a Scope of Work or an order) and is
// not for cause; excluded consequential damages name consequential,
// indirect or special damages or lost profits (a waiver of punitive
// damages is none); an additional-insured sentence states the insurance
// only when it names the coverage or its amount; notice to prevent
// renewal names who gives it as the clause does. A single-valued fact (term, governing law, dates, ...) gets one
// answer per contract, from the clause whose heading names it when several
// seem to state it. Answers are "Based on <label>, <statement>": a value
// statement, with the clause's sentence quoted where it carries conditions
// ("... is three (3) years. The clause states: \"...\""), or the sentence
// itself. A term counted from another event, or ending on the earlier of
// several, is quoted rather than summed up. Durations ("two (2) years",
// "30 days", "one-year") and dates ("7th day of September, 1999", "March
// 15, 2019", "3/14/18", day-first "1.4.2011") are normalised; a date left
// blank is said to be.
//
// # Records
//
// Generate makes three kinds of record (Record.Kind): a fact record per
// fact; a summary per clause ("What does Section X specify?": heading plus
// its first whole sentences); and unanswerable questions ("The contract
// does not specify ...") for fact types a contract lacks, UnanswerableRatio
// per fact. Absent claims a fact type absent only when no rule found it and
// no trace of it (its key words) is anywhere in the contract; title,
// parties and the agreement's date are never claimed absent. With Augment,
// NumAugmentations more records per question use other paraphrases and
// other context windows (the clause alone, with its neighbours, under its
// parent heading); the answer stays the same. A question has
// MaxAugmentations distinct variants, so asking for more adds nothing.
// Records are deduplicated on normalised input and output. All randomness
// comes from math/rand/v2 PCG sources seeded with GenOptions.Seed, so
// output is deterministic for a seed.
//
// # Splits
//
// Generate assigns whole clauses (a clause with every question about it
// and all their variants) to train, validation or test before it renders
// any context window (assignSplits): stratified by record kind and fact
// type, so that validation and test hold each kind in about its share of
// the whole set; leak-free in inputs, because a train record's neighbour
// window shows only train clauses, and a validation or test clause whose
// text or answer reappears verbatim in a clause a train record can show
// (boilerplate repeated across contracts) moves to train. CheckLeaks
// measures leakage on the rendered records and Dataset.Stats records it.
// WriteDataset writes X.jsonl, X_train.jsonl, X_val.jsonl, X_test.jsonl,
// X_summary.json (options, split sizes, kind shares, fact types, leakage)
// and train.jsonl, validation.jsonl, test.jsonl as one set: all are written
// and synced under temporary names before any is renamed, so a failure
// leaves the earlier set; an output path whose name collides with another
// file of the set is refused.
//
// # Teacher
//
// Teach optionally asks a language model (a Teacher: any OpenAI-compatible
// server, through tune gen-data --teacher_url) to paraphrase each fact's
// question and to phrase its answer from the extracted fact. A paraphrase
// is kept when it is one line, a question and new (CheckTeacherQuestion);
// an answer only when it cites its clause's number and no other, and every
// date, amount of money (FindAmounts) and duration it states is one the
// clause states, compared as values (CheckTeacherAnswer). Kept replies
// become records in their clause's split; Stats.Teacher counts what was
// kept and dropped, by reason.
//
// # Quality
//
// EvaluateCUAD measures, per CUAD category, recall and citation precision
// of the generated answers against the CUAD gold annotations, and counts
// wrong answers (see TestCUADQuality and BENCHMARKS.md).
package contract
