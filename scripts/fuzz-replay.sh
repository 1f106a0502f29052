#!/usr/bin/env bash
# fuzz-replay.sh SECONDS TARGET... - replays each libFuzzer target's committed corpus
# (fuzz/corpus/<name minus fuzz_>/), then fuzzes it for SECONDS more from that corpus in a
# scratch copy (new inputs are not written back into the tree). Fails on any crash.
set -u
secs=$1; shift
pass=0; fail=0
for t in "$@"; do
  name=$(basename "$t"); corp="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d); [ -d "$corp" ] && cp -r "$corp"/. "$work"/ 2>/dev/null
  mkdir -p build/fuzz/artifacts
  if "$t" -runs=0 "$work" >/dev/null 2>"$work.log" && \
     "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
          -artifact_prefix=build/fuzz/artifacts/"$name"- "$work" >/dev/null 2>>"$work.log"; then
    echo "ok:   $name (corpus replayed, then ${secs}s of fuzzing; $(ls "$work" | wc -l) inputs at the end)"; pass=$((pass+1))
  else
    echo "FAIL: $name"; tail -30 "$work.log"; fail=$((fail+1))
  fi
  rm -rf "$work" "$work.log"
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
