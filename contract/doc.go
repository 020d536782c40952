// Package contract reads legal contracts into a tree of numbered clauses and
// generates cited question-answer records from them for LoRA fine-tuning.
//
// # Input formats
//
// ParseFile and ParsePath (a file or every file of a folder) accept:
//
//   - Reducto parsed-PDF JSON: result.chunks[] holding flat blocks
//     {type, content, bbox: {page}, confidence} or chunks[].blocks[]. The
//     first Title block names the contract; a Section Header block whose text
//     starts with a number ("5.2 Warranty", "ARTICLE V - TERM") starts a
//     clause; every other block type (Text, List Item, Table, Key Value and
//     unknown types) is clause text. Offsets refer to the block contents
//     joined by blank lines (Contract.Text).
//   - Structured JSON: {title, parties, articles: [{number, title, text,
//     sections: [...]}]}, nested to any depth.
//   - Plain text (anything else), such as the CUAD contracts.
//
// Malformed JSON is reported with file and line; unreadable and empty files
// with the file name.
//
// # Heading detection in plain text
//
// Candidates are looked for at each line start (indentation ignored) and,
// for contracts flattened onto long lines, after a sentence end, after a rule
// of dashes, or before a dotted number ("Rights 1.1 Subject") that is not
// preceded by a reference word (Section, Article, and, of, under, ...). A
// candidate is "ARTICLE V"/"Article 5", "Section 3.1", "§ 3.1", "5.", "5.2",
// "5.2(a)" followed by a capitalised word, or, at line start only, "(a)" or
// "a." and EXHIBIT/SCHEDULE/ANNEX/APPENDIX lines. So "pursuant to Section
// 4.1" never is a heading, and a bare number needs a following capital.
//
// Candidates are then kept only when their numbering continues the
// sequence: the next sibling at any open level (5.2 after 5.1, 6 after
// 5.2(c)), or the first child (5.1 after ARTICLE 5, (a) after 5.2). A jump
// of up to three numbers is accepted only when the following candidate
// continues from it. A run of short entries that is followed by a restart at
// 1 is a table of contents: it is dropped (with a warning) and the body is
// parsed. Exhibits end the numbered body; each becomes one clause. Text
// before the first heading is the Preamble. Page footers ("Source: ...,
// 7/29/2019") and page-number lines are removed from clause text, while
// Start/End stay byte offsets into the original file. With fewer than two
// numbered headings the contract falls back to paragraphs "¶1", "¶2", ...
// (cited "Paragraph 1") and Contract.Warnings says so.
//
// Clause ids are as written ("5.2", "5.2(a)", "V"); kinds are article,
// section, subsection, paragraph (plus preamble and exhibit); Label is the
// citation ("Section 5.2", "Article V", "the Preamble").
//
// # Facts and records
//
// ExtractFacts applies sentence rules to each clause: title, parties and
// agreement date from the preamble; effective date, initial term, renewal
// term, notice to prevent renewal, termination notice and for convenience,
// cure period, warranty and defect liability periods, payment terms,
// amounts, percentages, governing law, jurisdiction, liability caps,
// consequential damages exclusions, liquidated damages and termination fees,
// insurance, confidentiality, assignment, audit rights, indemnification,
// non-compete, non-solicitation, exclusivity, force majeure and notices.
// Durations ("two (2) years", "30 days", "one-year") and dates ("7th day of
// September, 1999", "March 15, 2019", "3/14/18", day-first "1.4.2011") are
// normalised. Every answer starts "Based on <clause label>, ...".
//
// Generate makes one record per fact, an extractive summary per clause
// ("What does Section X specify?": heading plus first sentences), and
// unanswerable questions ("The contract does not specify ...") for fact
// types a contract lacks, UnanswerableRatio per answerable fact. With
// Augment, NumAugmentations more variants per fact use other question
// paraphrases and other context windows (the clause alone, with its
// neighbours, under its parent heading); the answer stays the same. Records
// are deduplicated on normalised input and output. All randomness comes from
// math/rand/v2 PCG sources seeded with GenOptions.Seed, so output is
// deterministic for a seed.
//
// # Split guarantee
//
// SplitRecords groups records by (source, clause id) and assigns whole
// groups to train, validation or test, so a clause and all its variants are
// in exactly one split. WriteDataset writes X.jsonl, X_train.jsonl,
// X_val.jsonl, X_test.jsonl and train.jsonl, validation.jsonl, test.jsonl,
// each through a temporary file and a rename.
//
// EvaluateCUAD measures recall and citation precision of the generated
// answers against CUAD gold annotations (see TestCUADQuality).
package contract
