#!/usr/bin/awk -f
# loss-curves.awk REFERENCE_LOG OTHER_LOG: compares the training losses two
# runs logged (training_log.jsonl) step by step and fails when any differs
# from the reference by more than 1% of it (the rule CI holds the emulated
# CUDA runs to). Prints every tenth step and the worst.
function num(line, key) {
  if (!match(line, "\"" key "\": *[-0-9.eE+]+")) return ""
  line = substr(line, RSTART, RLENGTH)
  sub(/^"[^"]*": */, "", line)
  return line + 0
}
FNR == 1 { file++ }
/"loss"/ {
  s = num($0, "step"); l = num($0, "loss")
  if (s == "" || l == "") next
  loss[file, s] = l
  if (s > last) last = s
}
END {
  if (file != 2) { print "loss-curves.awk: want two logs" > "/dev/stderr"; exit 2 }
  printf "  %5s %12s %12s %9s\n", "step", "reference", "other", "rel diff"
  worst = -1
  for (s = 1; s <= last; s++) {
    if (!((1, s) in loss) || !((2, s) in loss)) { missing++; continue }
    a = loss[1, s]; b = loss[2, s]
    r = a != 0 ? (b - a) / a : b - a
    if (r < 0) r = -r
    if (!(r <= worst)) { worst = r; at = s }
    if (s % 10 == 0 || s == 1) printf "  %5d %12.6f %12.6f %9.2e\n", s, a, b, r
  }
  printf "  worst relative difference %.2e at step %d over %d steps", worst, at, last
  if (missing) printf " (%d steps missing from a log)", missing
  print ""
  if (missing || !(worst <= 0.01)) { print "  FAIL: over 1% or missing steps"; exit 1 }
}
