#!/usr/bin/env bash
# throttling.sh [REPS] - benchmark of the throttling detector over the testbed's throttling
# pack (testbed/scenarios/throttling/): every scenario ("condition") REPS times (default 10),
# `censorscope throttling` against the testbed's throughput server, and in the same run a
# baseline on the same network: the naive single-download comparison (one 5 s download with
# the target name, one with a random control name, "throttled" when the control is >= 3x
# faster; what a hand check with curl does). Prints per condition and overall: true-positive
# rate, false-positive rate, inconclusive rate, median and 95th-percentile time to verdict,
# and the rate-estimate error, side by side, and the issue's goals (TPR >= 99 %,
# FPR <= 1 %, median time <= 10 s at 150 kbit/s, rate within +-15 %).
#
# Environment: REPS, CONDS (scenario names, default all), LANES (parallel testbeds, default
# 2), RUN_TIMEOUT (s per probe run, default 150), CS_TB_PREFIX. Bounded: every run has a
# timeout, the congested link's background flows stop by themselves. Needs root.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
REPS=${1:-${REPS:-10}}
LANES=${LANES:-2}
RUN_TIMEOUT=${RUN_TIMEOUT:-150}
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; exit 1; }
BIN=$PWD/build/release/censorscope
TB=$PWD/testbed/testbed
PFX=${CS_TB_PREFIX:-cs}
export CS_TB_CENSORSCOPE=$BIN
# the congested link's background flows must outlive every repetition (and stop by themselves)
CONGEST=$((REPS * (RUN_TIMEOUT + 30)))
[ "$CONGEST" -le 3600 ] || CONGEST=3600
export CS_TB_CONGEST_SECONDS=$CONGEST
"$BIN" throttling --help >/dev/null 2>&1 || { echo "censorscope has no throttling nettest"; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
if [ -n "${CONDS:-}" ]; then read -r -a SCNS <<<"$CONDS"
else mapfile -t SCNS < <(cd testbed/scenarios/throttling && ls -- *.scn | sed 's/\.scn$//'); fi

naive() { # name addr:port http? -> "verdict seconds target_bps" (one download each, 5 s cap)
  local name=$1 ep=$2 sch=https t c tt ct
  [ "${3:-}" = http ] && sch=http
  local ip=${ep%:*} port=${ep##*:} ctl="ctl-$RANDOM$RANDOM.example.net"
  read -r t tt < <("$TB" exec client -- curl -sk -m 5 -o /dev/null -w '%{speed_download} %{time_total}\n' \
    --resolve "$name:$port:$ip" "$sch://$name:$port/throughput?bytes=4194304" 2>/dev/null)
  read -r c ct < <("$TB" exec client -- curl -sk -m 5 -o /dev/null -w '%{speed_download} %{time_total}\n' \
    --resolve "$ctl:$port:$ip" "$sch://$ctl:$port/throughput?bytes=4194304" 2>/dev/null)
  awk -v t="${t:-0}" -v c="${c:-0}" -v a="${tt:-5}" -v b="${ct:-5}" 'BEGIN {
    v = (c > 0 && (t == 0 || c / t >= 3)) ? "true" : "false"
    printf "%s %.2f %.0f\n", v, a + b, t * 8 }'
}

lane() {
  local i=$1 k s r
  local lp="${PFX:0:4}b$i"
  local -x CS_TB_PREFIX=$lp CS_TESTBED_DIR=/run/$lp-testbed
  for ((k = i; k < ${#SCNS[@]}; k += LANES)); do
    s=${SCNS[k]}
    "$TB" up "throttling/$s" >"$work/$s.up" 2>&1 || { echo "$s: up failed" >&2; continue; }
    (
      # shellcheck disable=SC1091
      . "$CS_TESTBED_DIR/env"
      local http=""
      [[ " $CS_TB_PROBE_ARGS " == *" --http "* ]] && http=http
      for ((r = 1; r <= REPS; r++)); do
        local t0=$EPOCHREALTIME secs
        # shellcheck disable=SC2086
        timeout "$RUN_TIMEOUT" "$TB" exec client -- "$BIN" throttling -q -o "$work/$s.$r.jsonl" \
          --server "$CS_TB_THROUGHPUT" --sni "$CS_TB_INPUT" --lab-net "$CS_TB_LAB_NET" $CS_TB_PROBE_ARGS >>"$work/$s.log" 2>&1
        secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
        echo "$s $r probe $secs $CS_TB_SCENARIO_FILE $work/$s.$r.jsonl" >>"$work/results.$i"
        echo "$s $r naive $(naive "$CS_TB_INPUT" "$CS_TB_THROUGHPUT" $http) $CS_TB_SCENARIO_FILE" >>"$work/results.$i"
      done
    )
    "$TB" down >/dev/null 2>&1
    echo "  $s: $REPS repetitions done ($(date -u +%H:%M:%S))" >&2
  done
}

echo "throttling benchmark: ${#SCNS[@]} conditions x $REPS repetitions, $LANES parallel testbeds"
t0=$SECONDS
pids=()
for ((i = 0; i < LANES; i++)); do lane "$i" & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null; for ((i = 0; i < LANES; i++)); do
  CS_TB_PREFIX="${PFX:0:4}b$i" CS_TESTBED_DIR="/run/${PFX:0:4}b$i-testbed" "$TB" down >/dev/null 2>&1; done' EXIT
wait "${pids[@]}"
echo "wall time $((SECONDS - t0)) s; raw results in $work"
cat "$work"/results.* >"$work/results" 2>/dev/null
python3 - "$work/results" <<'PY'
import sys, os, statistics
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "net"))
import check_throttling as ct

rows = {}  # (cond, tool) -> list of (verdict, seconds, rate_err or None)
expect = {}
for line in open(sys.argv[1]):
    w = line.split()
    if not w:
        continue
    cond, tool = w[0], w[2]
    if tool == "probe":
        secs, scn, jsonl = float(w[3]), w[4], w[5]
        exp, target = ct.expects(scn)
        m = ct.load(jsonl, target)
        v = ct.verdict(m)
        tr = (m or {}).get("test_runtime")
        if isinstance(tr, (int, float)):
            secs = tr
        err = ct.rate_error(m, exp) if v == "true" else None
    else:
        v, secs, bps, scn = w[3], float(w[4]), float(w[5]), w[6]
        exp, _ = ct.expects(scn)
        err = None
        if "rate_bps" in exp and v == "true":
            err = abs(bps - float(exp["rate_bps"][0])) / float(exp["rate_bps"][0])
    expect[cond] = exp
    rows.setdefault((cond, tool), []).append((v, secs, err))

def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(round(q * (len(xs) - 1)))))
    return xs[k]

def summary(runs, positive):
    n = len(runs)
    if not n:
        return None
    t = sum(1 for r in runs if r[0] == "true")
    null = sum(1 for r in runs if r[0] == "null")
    other = sum(1 for r in runs if r[0] not in ("true", "false", "null"))
    times = [r[1] for r in runs]
    errs = [r[2] for r in runs if r[2] is not None]
    return dict(n=n, tpr=t / n if positive else None, fpr=None if positive else t / n,
                inc=(null + other) / n, med=statistics.median(times), p95=pct(times, 0.95),
                err_med=statistics.median(errs) if errs else None,
                err_max=max(errs) if errs else None,
                within=(sum(1 for e in errs if e <= 0.15) / len(errs)) if errs else None)

def fmt(s):
    if s is None:
        return "-"
    f = lambda x: "   -  " if x is None else f"{x * 100:5.1f}%"
    e = lambda x: "  -   " if x is None else ("  inf " if x == float("inf") else f"{x * 100:5.1f}%")
    return (f"{s['n']:3d} {f(s['tpr'])} {f(s['fpr'])} {f(s['inc'])} {s['med']:6.1f} {s['p95']:6.1f} "
            f"{e(s['err_med'])} {e(s['err_max'])}")

hdr = "  n   TPR    FPR   incon.  med_s  p95_s  err_med err_max"
print()
print(f"{'condition':28s} {'exp':5s} | censorscope throttling{'':30s}| naive single-download comparison")
print(f"{'':28s} {'':5s} |{hdr} |{hdr}")
tot = {}
for cond in sorted(expect):
    exp = expect[cond]
    positive = "true" in (exp.get("throttled") or ["?"])[0].split("|")
    line = f"{cond:28s} {'pos' if positive else 'neg':5s} |"
    for tool in ("probe", "naive"):
        runs = rows.get((cond, tool), [])
        tot.setdefault((tool, positive), []).extend(runs)
        line += " " + fmt(summary(runs, positive)) + " |"
    print(line)
print()
print("overall")
for tool, label in (("probe", "censorscope throttling"), ("naive", "naive single download")):
    pos, neg = tot.get((tool, True), []), tot.get((tool, False), [])
    allr = pos + neg
    sp, sn = summary(pos, True), summary(neg, False)
    times = [r[1] for r in allr]
    errs = [r[2] for r in pos if r[2] is not None]
    inc = sum(1 for r in allr if r[0] not in ("true", "false")) / len(allr) if allr else float("nan")
    print(f"  {label:24s} TPR {sp['tpr'] * 100 if sp else float('nan'):5.1f}% ({len(pos)} positive runs)"
          f"  FPR {sn['fpr'] * 100 if sn else float('nan'):5.1f}% ({len(neg)} negative runs)"
          f"  inconclusive {inc * 100:5.1f}%  time median {statistics.median(times) if times else float('nan'):.1f} s"
          f" p95 {pct(times, 0.95):.1f} s  rate error median "
          f"{statistics.median(errs) * 100 if errs else float('nan'):.1f}% p95 {pct(errs, 0.95) * 100 if errs else float('nan'):.1f}%"
          f" within 15%: {sum(1 for e in errs if e <= 0.15)}/{len(errs)}")
p150 = rows.get(("sni-policer-150-down", "probe"), [])
print()
print("goals (issue 11): TPR >= 99 %, FPR <= 1 %, median time to verdict <= 10 s per target at 150 kbit/s,"
      " policer rate within +-15 %")
if p150:
    print(f"  median time to verdict at 150 kbit/s (sni-policer-150-down): {statistics.median([r[1] for r in p150]):.1f} s")
PY
