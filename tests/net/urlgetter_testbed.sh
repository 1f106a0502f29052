#!/usr/bin/env bash
# urlgetter_testbed.sh - the probe engine inside the testbed: every interference primitive
# of the censor (testbed scenario primitives/all-primitives) must be recorded with the
# failure string OONI would archive, plus site-side TLS problems, redirect limits, duplicate
# DNS replies from on-path injection and the network rule. Needs root (network namespaces).
set -uo pipefail
cd "$(dirname "$0")/../.."
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
$TB up all-primitives >/dev/null 2>&1 || { $TB up all-primitives; echo "0 passed, 1 failed"; exit 1; }
trap '$TB down >/dev/null 2>&1' EXIT
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
out=$(mktemp -d)
ug() { $TB exec client -- "$BIN" urlgetter -q --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" \
         --tcp-timeout 2 --tls-timeout 2 --http-timeout 4 --dns-timeout 2 "$@"; }

# 1. system resolver (the ISP's dnsmasq), every primitive at once
ug -j 32 -o "$out/sys.jsonl" \
  https://ok.lab.test/ http://ok.lab.test/ \
  https://dnsnx.lab.test/ https://dnsnodata.lab.test/ https://dnsservfail.lab.test/ \
  https://dnslie.lab.test/ \
  https://tcpdrop.lab.test/ https://tcpreject.lab.test/ \
  https://snireset.lab.test/ https://snifin.lab.test/ https://snidrop.lab.test/ \
  http://hostreset.lab.test/ http://hostfin.lab.test/ http://hostdrop.lab.test/ \
  http://blockpage.lab.test/ http://redirect.lab.test/ \
  https://expired.badssl.com/ https://wrong.host.badssl.com/ https://untrusted-root.badssl.com/ \
  http://httpbin.com/chain/0 http://httpbin.com/broken-redirect-http http://bit.ly/32447 \
  "https://xn--d1acpjx3f.xn--p1ai/"
# 2. plain DNS straight to the public resolver: the censor injects a forged answer on path
ug -o "$out/udp.jsonl" --resolver "udp://$CS_TB_PUBLIC_RESOLVER:53" \
  http://inject.lab.test/ http://injectnx.lab.test/
# 3. SNI override and --address: a ClientHello for a blocked name to an unblocked server
ug -o "$out/sni.jsonl" --sni snireset.lab.test https://ok.lab.test/
ug -o "$out/addr.jsonl" --address 198.18.65.1 http://dnsnx.lab.test/
# 4. the network rule: nothing outside the lab is reachable from the client
ug -o "$out/out.jsonl" --address 192.0.2.1 http://outside.example/

T=$'\t'
cat >"$out/spec" <<SPEC
https://ok.lab.test/${T}https success with TLS record${T}tk['failure'] is None and code(tk) == 200 and tk['tls_handshakes'][0]['failure'] is None and tk['tls_handshakes'][0]['tls_version'].startswith('TLSv1') and len(tk['tls_handshakes'][0]['peer_certificates']) >= 1
https://ok.lab.test/${T}system resolver recorded as getaddrinfo ANY${T}tk['queries'][0]['engine'] == 'getaddrinfo' and tk['queries'][0]['query_type'] == 'ANY' and tk['queries'][0]['answers'][0]['ipv4'] == '198.18.65.1'
https://ok.lab.test/${T}network events: connect + first reads/writes with byte counts${T}[e['operation'] for e in tk['network_events']][0] == 'connect' and any(e['operation'] == 'read' and e['num_bytes'] > 0 for e in tk['network_events']) and len([e for e in tk['network_events'] if e['operation'] in ('read','write')]) <= 64
https://ok.lab.test/${T}times are relative and ordered${T}all(0 <= q['t0'] <= q['t'] <= m['test_runtime'] + 0.01 for q in tk['queries'] + tk['tcp_connect'] + tk['tls_handshakes'] + tk['requests'])
https://ok.lab.test/${T}probe IP never recorded${T}m['probe_ip'] == '127.0.0.1' and '198.18.1.2' not in json.dumps(m)
http://ok.lab.test/${T}http success${T}tk['failure'] is None and code(tk) == 200 and tk['tls_handshakes'] == []
https://dnsnx.lab.test/${T}DNS NXDOMAIN lie${T}tk['failure'] == 'dns_nxdomain_error' and tk['failed_operation'] == 'resolve' and tk['tcp_connect'] == []
https://dnsnodata.lab.test/${T}DNS empty answer${T}tk['failure'] == 'dns_no_answer'
https://dnsservfail.lab.test/${T}DNS SERVFAIL via getaddrinfo${T}tk['failure'] == 'dns_server_misbehaving'
https://dnslie.lab.test/${T}DNS lie to the blockpage server${T}tk['queries'][0]['answers'][0]['ipv4'] == '198.18.4.80' and tk['failure'] == 'connection_refused'
https://tcpdrop.lab.test/${T}TCP blackhole${T}tk['failure'] == 'generic_timeout_error' and tk['failed_operation'] == 'connect' and tk['tcp_connect'][0]['status']['success'] is False
https://tcpreject.lab.test/${T}TCP RST on SYN${T}tk['failure'] == 'connection_refused' and tk['tcp_connect'][0]['status']['failure'] == 'connection_refused'
https://snireset.lab.test/${T}RST after ClientHello${T}tk['failure'] == 'connection_reset' and tk['failed_operation'] == 'tls_handshake' and tk['tcp_connect'][0]['status']['success'] and tk['tls_handshakes'][0]['server_name'] == 'snireset.lab.test'
https://snifin.lab.test/${T}FIN after ClientHello${T}tk['failure'] == 'eof_error' and tk['failed_operation'] == 'tls_handshake'
https://snidrop.lab.test/${T}ClientHello blackholed${T}tk['failure'] == 'generic_timeout_error' and tk['failed_operation'] == 'tls_handshake'
http://hostreset.lab.test/${T}RST on Host${T}tk['failure'] == 'connection_reset' and tk['failed_operation'] == 'http_round_trip' and last_req(tk)['request']['headers']['Host'] == 'hostreset.lab.test'
http://hostfin.lab.test/${T}FIN on Host${T}tk['failure'] == 'eof_error' and tk['failed_operation'] == 'http_round_trip'
http://hostdrop.lab.test/${T}request blackholed${T}tk['failure'] == 'generic_timeout_error' and tk['failed_operation'] == 'http_round_trip'
http://blockpage.lab.test/${T}injected PTA blockpage recorded${T}tk['failure'] is None and 'prohibited for viewership from within Pakistan' in body(tk)
http://redirect.lab.test/${T}ISP redirect followed and recorded newest-first${T}len(tk['requests']) >= 1 and any(r['response']['code'] in (301, 302, 303, 307, 308) for r in tk['requests'])
https://expired.badssl.com/${T}expired certificate${T}tk['failure'] == 'ssl_invalid_certificate' and len(tk['tls_handshakes'][0]['peer_certificates']) >= 1
https://wrong.host.badssl.com/${T}wrong host certificate${T}tk['failure'] == 'ssl_invalid_hostname'
https://untrusted-root.badssl.com/${T}unknown authority${T}tk['failure'] == 'ssl_unknown_authority'
http://httpbin.com/chain/0${T}more than 10 redirects${T}tk['failure'] == 'unknown_failure: stopped after too many redirects' and len(tk['requests']) == 11 and tk['x_redirects'] == 10
http://httpbin.com/broken-redirect-http${T}broken Location${T}tk['failure'] == 'http_invalid_redirect_location_host'
http://bit.ly/32447${T}cross-host redirect re-resolves at depth 1${T}tk['failure'] is None and code(tk) == 200 and any('depth=1' in q['tags'] and q['hostname'] == 'www.example.com' for q in tk['queries']) and tk['requests'][0]['request']['url'] == 'http://www.example.com/'
https://xn--d1acpjx3f.xn--p1ai/${T}IDNA host${T}tk['failure'] is None and code(tk) == 200
http://inject.lab.test/${T}on-path DNS injection: two replies recorded${T}tk['queries'][0]['engine'] == 'udp' and tk['queries'][0]['answers'][0]['ipv4'] == '198.18.4.80' and any(a.get('ipv4') == '198.18.65.6' for d in tk['x_dns_duplicate_responses'] for a in (d['answers'] or [])) and 'raw_response' in tk['queries'][0]
http://injectnx.lab.test/${T}injected NXDOMAIN then the real answer${T}tk['queries'][0]['failure'] == 'dns_nxdomain_error' and any(a.get('ipv4') == '198.18.65.7' for d in tk['x_dns_duplicate_responses'] for a in (d['answers'] or []))
https://ok.lab.test/${T}(sni) blocked SNI to an unblocked server is reset${T}m['input'] and tk['failure'] == 'connection_reset' and tk['tls_handshakes'][0]['server_name'] == 'snireset.lab.test'
http://dnsnx.lab.test/${T}(address) --address skips DNS${T}tk['queries'] == [] and tk['tcp_connect'][0]['ip'] == '198.18.65.1' and code(tk) == 200
http://outside.example/${T}network rule: outside address unreachable${T}tk['failure'] in ('network_unreachable', 'host_unreachable', 'generic_timeout_error') and tk['failed_operation'] == 'connect'
SPEC
# the SNI-override run and the normal run share an input URL: check them separately
grep -v '^https://ok.lab.test/.*(sni)' "$out/spec" | grep -v '(address)' | grep -v 'outside' >"$out/spec.main"
grep '(sni)' "$out/spec" >"$out/spec.sni"; grep '(address)' "$out/spec" >"$out/spec.addr"
grep 'outside' "$out/spec" >"$out/spec.out"
cat "$out/sys.jsonl" "$out/udp.jsonl" >"$out/main.jsonl"
rc=0; p=0; f=0
for pair in "main.jsonl spec.main" "sni.jsonl spec.sni" "addr.jsonl spec.addr" "out.jsonl spec.out"; do
  set -- $pair
  res=$(python3 tests/net/check_measurements.py "$out/$1" "$out/$2"); r=$?
  printf '%s\n' "$res" | grep -v ' passed, '
  p=$((p + $(printf '%s\n' "$res" | sed -nE 's/^([0-9]+) passed.*/\1/p')))
  f=$((f + $(printf '%s\n' "$res" | sed -nE 's/.* ([0-9]+) failed$/\1/p')))
  [ $r -eq 0 ] || rc=1
done
[ $rc -eq 0 ] || { echo "measurements kept in $out"; trap - EXIT; $TB down >/dev/null 2>&1; }
[ $rc -eq 0 ] && rm -rf "$out"
echo "urlgetter in testbed: $p passed, $f failed"
exit $rc
