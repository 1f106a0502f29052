#!/usr/bin/env bash
# checksrc.sh [FILE...] - the project's ban list (curl's checksrc, in small), run by `make lint`.
# Fails on:
#   - calls to strcpy, strcat, sprintf, vsprintf, gets, atoi, atol, strtok (unbounded writes, no
#     error reporting, hidden state): use snprintf / cs_buf / strtol / strtok_r;
#   - a hand-written "unknown_failure: ..." literal in src/ outside src/util/: build it with
#     cs_failure_unknown() (util/failure.h), which scrubs addresses from the detail, or with
#     CS_FAILURE_UNKNOWN_CONST("constant detail"), the same prefix at compile time.
# Comments and string literals are not searched for calls. A line may opt out with a reason:
#   ... /* checksrc: allow <reason> */
# Default files: every tracked *.c / *.h under src/, fuzz/ and tests/support/ (the unit tests'
# own fixed-size string building is not checked). Prints "checksrc: N passed, M failed" (one
# per file).
set -u
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  mapfile -t files < <(git ls-files 'src/*.[ch]' 'fuzz/*.[ch]' 'tests/support/*.[ch]' 2>/dev/null)
else
  files=("$@")
fi
pass=0; fail=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  out=$(perl -e '
    my ($file, $check_unknown) = @ARGV;
    open(my $fh, "<", $file) or die "$file: $!";
    my $in_comment = 0; my $n = 0; my $bad = 0;
    while (my $line = <$fh>) {
      $n++;
      next if $line =~ m{checksrc: allow \S};
      # $code: comments and literals blanked; $lits: the string literals of the line
      my $code = ""; my $lits = "";
      my $s = $line;
      while (length $s) {
        if ($in_comment) {
          if ($s =~ s{^.*?\*/}{}) { $in_comment = 0; } else { $s = ""; }
        } elsif ($s =~ s{^/\*}{}) { $in_comment = 1;
        } elsif ($s =~ m{^//}) { $s = "";
        } elsif ($s =~ s{^("(?:[^"\\]|\\.)*"?)}{}) { $code .= "\"\""; $lits .= " $1";
        } elsif ($s =~ s{^\x27(?:[^\x27\\]|\\.)*\x27?}{}) { $code .= "0";
        } else { $code .= substr($s, 0, 1, ""); }
      }
      if ($check_unknown && $lits =~ /"unknown_failure:/) {
        print "$file:$n: hand-written \"unknown_failure:\" literal (use cs_failure_unknown, or CS_FAILURE_UNKNOWN_CONST for a constant detail)\n"; $bad++;
      }
      while ($code =~ /\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)\s*\(/g) {
        print "$file:$n: banned call $1()\n"; $bad++;
      }
    }
    exit($bad ? 1 : 0);
  ' "$f" "$([[ $f == src/* && $f != src/util/* ]] && echo 1 || echo 0)")
  if [ $? -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); printf '%s\n' "$out"; fi
done
echo "checksrc: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
