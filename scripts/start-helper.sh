#!/usr/bin/env bash
# start-helper.sh DIR - starts our control server (`censorscope helper`) on the testbed's
# uncensored control host, over HTTPS like OONI's, with a certificate for its address signed
# by the testbed CA (key and certificate written to DIR); waits until it answers and prints
# its PID (kill it when done). Needs the testbed up ($CS_TESTBED_DIR/env) and the build.
# $CS_HELPER_EXTRA_ARGS: more helper options (word-split), e.g. the whoami zone of issue 14.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
BIN=$PWD/build/release/censorscope
TB=testbed/testbed
. "${CS_TESTBED_DIR:-/run/cs-testbed}/env"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/th.key" \
    -subj "/CN=$CS_TB_CONTROL_ADDR" 2>/dev/null |
  openssl x509 -req -CA "$CS_TB_CA" -CAkey "${CS_TB_CA%.pem}.key" -days 2 \
    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
    -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$CS_TB_CONTROL_ADDR") \
    -out "$dir/th.pem" 2>/dev/null
# shellcheck disable=SC2086 # CS_HELPER_EXTRA_ARGS is a word list
$TB exec ctrl -- "$BIN" helper -q --listen "$CS_TB_CONTROL_ADDR:443" --tls-cert "$dir/th.pem" \
    --tls-key "$dir/th.key" --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" ${CS_HELPER_EXTRA_ARGS:-} \
    >"$dir/helper.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 100); do
  if $TB exec ctrl -- curl -s -m 1 --cacert "$CS_TB_CA" -o /dev/null "https://$CS_TB_CONTROL_ADDR/"; then
    echo "$pid"
    exit 0
  fi
  sleep 0.1
done
echo "start-helper: the control server did not answer (see $dir/helper.log)" >&2
kill "$pid" 2>/dev/null
exit 1
