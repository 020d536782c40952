#!/usr/bin/env python3
"""Writes testdata/pylower/lower.json: Python's str.lower() on every code
point and on strings around capital sigma, the reference for eval's
pyLower (rouge_score, sacrebleu's lowercase option and the SQuAD script all
call str.lower()).

Whether a lowercased capital sigma is final (ς) depends on its neighbours:
case-ignorable ones are skipped, and it is final after a cased letter and
not before one. Two probes per code point X classify X as str.lower() sees
it: "A"+X+"Σ" ends in ς when X is cased or case-ignorable, X+"Σ" when X is
cased and not case-ignorable.

Run with /usr/bin/python3 from the repository root; needs nothing beyond
the standard library. The output is deterministic (seeded).
"""
import json
import random
import sys
import unicodedata

lower = {}
sigma = {"cased": [], "ignorable": []}  # [first, last] ranges
unassigned = []  # [first, last] ranges of code points unassigned here
start = None
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF:
        continue  # surrogates are not text
    c = chr(cp)
    if unicodedata.category(c) == "Cn":
        if start is None:
            start = cp
        continue
    if start is not None:
        unassigned.append([start, cp - 1])
        start = None
    low = c.lower()
    if low != c:
        lower["%04X" % cp] = " ".join("%04X" % ord(x) for x in low)
    after_a = ("A" + c + "\u03a3").lower()[-1] == "\u03c2"
    alone = (c + "\u03a3").lower()[-1] == "\u03c2"
    kind = "cased" if alone else "ignorable" if after_a else None
    if kind:
        ranges = sigma[kind]
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
if start is not None:
    unassigned.append([start, 0x10FFFF])

# Final_Sigma: capital sigma before and after cased letters (Latin, Greek,
# title case), case-ignorable ones (apostrophe, full stop, colon, combining
# acute, soft hyphen, modifier letter, modifier symbol), and neither (space,
# digit, hyphen).
alphabet = ["\u03a3", "\u03a3", "A", "a", "\u0391", "\u01c5", "'", ".", ":", "\u0301", "\u00ad",
            "\u02b0", "^", " ", "1", "-", "\u0130"]
rng = random.Random(13)
strings = ["\u03a3", "\u0391\u03a3", "\u0391\u03a3\u0391", "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u038e\u03a3",
           "\u0391\u03a3.", "\u0391.\u03a3", "1\u03a3", "\u0391\u03a3 \u0391\u03a3", "\u0130stanbul",
           "\u0391" + "'" * 40 + "\u03a3" + "'" * 40]
seen = set(strings)
while len(strings) < 600:
    s = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 7)))
    if "\u03a3" in s and s not in seen:
        seen.add(s)
        strings.append(s)

json.dump({
    "source": "scripts/pylower_golden.py",
    "python": sys.version.split()[0],
    "unicode": unicodedata.unidata_version,
    "lower": lower,
    "sigma_cased": sigma["cased"],
    "sigma_ignorable": sigma["ignorable"],
    "unassigned": unassigned,
    "contexts": [[s, s.lower()] for s in strings],
}, sys.stdout, ensure_ascii=True, indent=0, sort_keys=True)
sys.stdout.write("\n")
