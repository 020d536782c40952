#!/usr/bin/env python3
"""Writes testdata/graded/legalbench_round3/: small contract files built from the
LegalBench contract clauses the fact rules were never tuned on, the input of
the third hand-graded round (testdata/graded/SOURCE.md).

LegalBench's cuad_* and contract_nli_* tasks hold single clauses, each with
the document it was cut from (document_name). The clauses of one document,
in task order (task names sorted, then the row index), with exact repeats
dropped, become one file, clauses separated by a blank line, text unchanged.
A document is left out when its name or any of its clauses is among what the
rules were tuned on: the 14 CUAD contracts of testdata/cuad, the 61 NDAs of
ContractNLI's dev.json, or any text under testdata/contracts and contract/
(the parser's excerpts). A clause counts as seen when its whitespace-
normalised, lower-cased text, or any sentence of it of 40 characters or
more, occurs in that material. contract_qa is not used: its rows name no
document and are written examples, not cut from a contract.

Run with /usr/bin/python3 from the repository root, with the reference data
at ../shared/data; needs nothing beyond the standard library. It prints each
document left out and why, and replaces the folder's .txt files.
"""
import csv
import glob
import json
import os
import re
import sys

SHARED = "../shared/data"
OUT = "testdata/graded/legalbench_round3"

csv.field_size_limit(1 << 30)


def norm(s):
    return re.sub(r"\s+", " ", s).strip().lower()


def sentences(s):
    return [p for p in re.split(r"(?<=[.;:])\s+", norm(s)) if len(p) >= 40]


def seen_corpus():
    texts = []
    for path in sorted(glob.glob("testdata/cuad/contracts/*.txt")):
        texts.append(open(path, encoding="utf-8").read())
    for path in sorted(glob.glob("testdata/contracts/**/*", recursive=True)):
        if os.path.isfile(path):
            texts.append(open(path, encoding="utf-8", errors="replace").read())
    for path in sorted(glob.glob("contract/*.go")):
        texts.append(open(path, encoding="utf-8").read())
    dev = json.load(open(os.path.join(SHARED, "contractnli/dev.json"), encoding="utf-8"))
    texts += [d["text"] for d in dev["documents"]]
    names = {d["file_name"] for d in dev["documents"]}
    manifest = json.load(open("testdata/cuad/manifest.json", encoding="utf-8"))
    names |= {m["cuad_pdf_filename"] for m in manifest}
    names |= {m["cuad_title"] for m in manifest}
    return "\n".join(norm(t) for t in texts), {norm(n) for n in names}


def stem(name):
    return norm(re.sub(r"\.(pdf|htm|txt)'?$", "", name.strip(), flags=re.I))


def file_name(source, name):
    base = re.sub(r"[^A-Za-z0-9]+", "_", re.sub(r"\.(pdf|htm|txt)'?$", "", name.strip(), flags=re.I))
    return f"{source}__{base.strip('_')[:80]}.txt"


def main():
    corpus, seen_names = seen_corpus()
    seen_stems = {stem(n) for n in seen_names}
    docs = {}
    for source, pattern in (("cuad", "cuad_*"), ("nli", "contract_nli_*")):
        for path in sorted(glob.glob(os.path.join(SHARED, "legalbench/tasks", pattern, "train.tsv"))):
            with open(path, encoding="utf-8", newline="") as f:
                rows = sorted(csv.DictReader(f, delimiter="\t"), key=lambda r: int(r["index"]))
            for row in rows:
                key = (source, row["document_name"].strip())
                clauses = docs.setdefault(key, [])
                text = row["text"].strip()
                if text not in clauses:
                    clauses.append(text)
    os.makedirs(OUT, exist_ok=True)
    for old in glob.glob(os.path.join(OUT, "*.txt")):
        os.remove(old)
    kept = 0
    for (source, name), clauses in sorted(docs.items()):
        why = ""
        if stem(name) in seen_stems:
            why = "document among the tuned ones"
        for c in clauses:
            if why:
                break
            if norm(c) in corpus:
                why = "clause found in tuned text: " + c[:60]
            for s in sentences(c):
                if s in corpus:
                    why = "sentence found in tuned text: " + s[:60]
                    break
        if why:
            print(f"left out {source} {name}: {why}", file=sys.stderr)
            continue
        with open(os.path.join(OUT, file_name(source, name)), "w", encoding="utf-8") as f:
            f.write("\n\n".join(clauses) + "\n")
        kept += 1
    print(f"{kept} documents written to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
