#!/usr/bin/env bash
# urlgetter_vs_curl.sh [N] [J] - benchmark: CPU time and peak memory of `censorscope
# urlgetter -j J` against `curl --parallel --parallel-max J` fetching the same N HTTPS URLs
# from the same testbed servers, in one run, printed side by side. Runs entirely inside the
# testbed's namespaces (root needed). Bounded: N URLs, each with 10 s deadlines.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}; J=${2:-50}
scripts/setup.sh
make -s -j"$(nproc)" >/dev/null
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
$TB up all-primitives >/dev/null 2>&1
trap '$TB down >/dev/null 2>&1' EXIT
. "$CS_TESTBED_DIR/env"
work=$(mktemp -d)
hosts=(ok.lab.test www.example.com www.example.org fast.lab.test)
for ((i = 0; i < N; i++)); do echo "https://${hosts[i % ${#hosts[@]}]}/?n=$i"; done >"$work/urls"
mapfile -t urls <"$work/urls"
run() { # label cmd... -> "label user_s sys_s maxrss_kb wall_s"
  local label=$1; shift
  $TB exec client -- /usr/bin/time -f "%U %S %M %e" -o "$work/$label.time" "$@" >/dev/null 2>"$work/$label.err" || true
  read -r u s m e <"$work/$label.time"
  printf '%-26s %8.2f %8.2f %10.2f %8d %8.2f\n' "$label" "$u" "$s" "$(echo "$u + $s" | bc)" "$m" "$e"
}
echo "HTTPS fetches: $N URLs over ${#hosts[@]} hosts, concurrency $J (testbed, loopback-free namespaces)"
printf '%-26s %8s %8s %10s %8s %8s\n' "tool" "user_s" "sys_s" "cpu_s" "maxrss_kB" "wall_s"
for u in "${urls[@]}"; do printf 'url = "%s"\noutput = "/dev/null"\n' "$u"; done >"$work/curl.cfg"
# curl reuses connections and TLS sessions; a measurement must not (each URL gets its own
# DNS lookup, TCP connect and full handshake), so the fair baseline disables both.
run "curl --parallel (reuse)" curl -s --parallel --parallel-max "$J" --cacert "$CS_TB_CA" -K "$work/curl.cfg"
run "curl --parallel (fresh)" curl -s --parallel --parallel-max "$J" --cacert "$CS_TB_CA" \
    --http1.1 --no-sessionid -H 'Connection: close' -K "$work/curl.cfg"
run "censorscope urlgetter" "$BIN" urlgetter -q -j "$J" --ca-file "$CS_TB_CA" \
    --lab-net "$CS_TB_LAB_NET" -o "$work/m.jsonl" "${urls[@]}"
ok=$(grep -c '"failure":null,"socksproxy"' "$work/m.jsonl" || true)
echo "urlgetter measurements: $(wc -l <"$work/m.jsonl") written, $ok without failure"
echo "(urlgetter also records every DNS query, connect, handshake (with the peer chain), request and"
echo " network event as OONI JSON; curl only fetches.)"
rm -rf "$work"
