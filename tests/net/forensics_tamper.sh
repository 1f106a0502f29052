#!/usr/bin/env bash
# forensics_tamper.sh - the tampering forensics of issue 14 (docs/forensics.md) in the testbed:
# each tamper-* censor of testbed/scenarios/forensics gives its verdict and nothing else does:
#   tamper-tls-intercept  x_tls_interception.intercepted true + the interception CA as issuer
#   tamper-http-rewrite   x_http_tampering.tampered true with both digests and lengths
#   tamper-dns-dnat       resolver_identity: dnat true, answered_by the ISP resolver; with
#                         --doh (dnsdist, the public resolver's DoH view) alone: dnat true
#                         from the DoH view, the reply TTLs recorded (1 hop: not counted);
#                         without CAP_NET_RAW the same verdict, TTL fields null and why
#   tamper-dns-dnat-far   the same DNAT 3 hops from the public resolver: the reply TTLs
#                         show the DNS answers 3 hops closer than the address's port 443
#   tamper-dns-proxy-far  a transparent DNS proxy (the DNAT'ed queries forwarded to the genuine
#                         resolver): the identity says "genuine", the reply TTLs disagree by
#                         3 hops: dnat null, never false
#   tamper-dns-dnat-blocked  the DNAT, and TCP 443/853 of the public resolver dropped: dnat
#                         true from the identity, the reply TTLs null with the reason
#   tamper-none           none of them (every feature on, every input); --doh: dnat false,
#                         0 hops apart, no TTL claim
# and 0 false attributions over a slice of the uncensored national world (CS_TB_BLOCK_SHARE=0:
# every CS_FX_NATIONAL_STEP-th URL of the 2,392, default 8). Root needed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j2 >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
work=$(mktemp -d)
hpid=
cleanup() { [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
INPUTS=(https://secure.tamper.test/ https://bank.tamper.test/ http://download.tamper.test/setup.exe
        http://mirror.tamper.test/setup.exe http://download.tamper.test/)

up() { # scenario [env...]: testbed up, the helper (TH + whoami zone) on the control host
    [ -z "$hpid" ] || kill "$hpid" 2>/dev/null
    hpid=
    env "${@:2}" $TB up "$1" >"$work/up.log" 2>&1 || { cat "$work/up.log"; return 1; }
    unset CS_TB_INTERCEPT_CA CS_TB_WHOAMI_ZONE CS_TB_WHOAMI_PORT CS_TB_PUBLIC_EGRESS CS_TB_PUBLIC_DOH
    . "$CS_TESTBED_DIR/env"
    hpid=$(CS_HELPER_EXTRA_ARGS="${CS_TB_WHOAMI_ZONE:+--dns-zone $CS_TB_WHOAMI_ZONE --dns-listen $CS_TB_CONTROL_ADDR:$CS_TB_WHOAMI_PORT}" \
        scripts/start-helper.sh "$work") || return 1
    # the probe trusts the testbed CA and, where the scenario has one, the interception CA
    # (a CA the client "was made to trust")
    cat "$CS_TB_CA" ${CS_TB_INTERCEPT_CA:+"$CS_TB_INTERCEPT_CA"} >"$work/cas.pem"
}

wc() { # out inputs...
    local out=$1; shift
    $TB exec client -- "$BIN" web_connectivity -q --th "https://$CS_TB_CONTROL_ADDR/" \
        --ca-file "$work/cas.pem" --lab-net "$CS_TB_LAB_NET" --no-db -o "$out" "$@" >/dev/null 2>&1
}

rid() { # out: resolver identity of the public resolver (UDP, TCP) against the helper's zone
    $TB exec client -- "$BIN" resolver_identity -q --whoami-zone "$CS_TB_WHOAMI_ZONE" \
        --egress "$CS_TB_PUBLIC_EGRESS" --lab-net "$CS_TB_LAB_NET" --no-db -o "$1" \
        "udp://$CS_TB_PUBLIC_RESOLVER:53" "tcp://$CS_TB_PUBLIC_RESOLVER:53" >/dev/null 2>&1
}

ridoh() { # out [wrapper...]: the same with the DoH view as the only reference (no --egress);
    # $RIDB: store the measurements there (for the report) instead of --no-db
    local out=$1 db=(--no-db); shift
    [ -z "${RIDB:-}" ] || db=(--db "$RIDB")
    $TB exec client -- "$@" "$BIN" resolver_identity -q --whoami-zone "$CS_TB_WHOAMI_ZONE" \
        --doh "$CS_TB_PUBLIC_DOH" --domain secure.tamper.test --ca-file "$CS_TB_CA" \
        --lab-net "$CS_TB_LAB_NET" "${db[@]}" -o "$out" \
        "udp://$CS_TB_PUBLIC_RESOLVER:53" "tcp://$CS_TB_PUBLIC_RESOLVER:53" >/dev/null 2>&1
}
NOPRIV=(setpriv --inh-caps=-net_raw --ambient-caps=-net_raw --bounding-set=-net_raw)

t0=$SECONDS
for s in tamper-none tamper-tls-intercept tamper-http-rewrite tamper-dns-dnat; do
    up "forensics/$s" || { echo "0 passed, 1 failed"; exit 1; }
    wc "$work/$s.wc.jsonl" "${INPUTS[@]}"
    rid "$work/$s.rid.jsonl"
    case $s in
        tamper-none) ridoh "$work/$s.doh.jsonl" ;;
        tamper-dns-dnat) ridoh "$work/$s.doh.jsonl"; ridoh "$work/$s.nopriv.jsonl" "${NOPRIV[@]}" ;;
    esac
done
for s in tamper-dns-dnat-far tamper-dns-proxy-far; do
    up "forensics/$s" || { echo "0 passed, 1 failed"; exit 1; }
    RIDB=$work/$s.db ridoh "$work/$s.doh.jsonl"
    "$BIN" report --db "$work/$s.db" >"$work/$s.report.txt" 2>&1
done
up forensics/tamper-dns-dnat-blocked || { echo "0 passed, 1 failed"; exit 1; }
$TB exec client -- "$BIN" resolver_identity -q --whoami-zone "$CS_TB_WHOAMI_ZONE" --tcp-timeout 1 \
    --egress "$CS_TB_PUBLIC_EGRESS" --lab-net "$CS_TB_LAB_NET" --no-db -o "$work/blocked.jsonl" \
    "udp://$CS_TB_PUBLIC_RESOLVER:53" >/dev/null 2>&1
# the uncensored national world, a slice of it with every feature on
step=${CS_FX_NATIONAL_STEP:-8}
up national/pk-national CS_TB_BLOCK_SHARE=0 || { echo "0 passed, 1 failed"; exit 1; }
scripts/national-list.sh | awk -v s="$step" 'NR == 1 || (NR - 2) % s == 0' >"$work/list.csv"
$TB exec client -- "$BIN" web_connectivity -q -j 128 --th "https://$CS_TB_CONTROL_ADDR/" \
    --ca-file "$work/cas.pem" --lab-net "$CS_TB_LAB_NET" --no-db -o "$work/national.jsonl" \
    -f "$work/list.csv" >/dev/null 2>&1
echo "measured in $((SECONDS - t0)) s"

python3 - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
p = f = 0
def check(name, ok, detail=""):
    global p, f
    if ok: p += 1; print(f"ok:   {name}")
    else: f += 1; print(f"FAIL: {name} {detail}")
def load(name):
    path = os.path.join(work, name)
    if not os.path.exists(path): return []
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
def by_input(ms): return {m["input"]: m["test_keys"] for m in ms}
def tls(tk): return (tk.get("x_tls_interception") or {}).get("intercepted")
def tam(tk): return (tk.get("x_http_tampering") or {}).get("tampered")

expect = {  # scenario -> the one input with a verdict
    "tamper-none": None,
    "tamper-tls-intercept": "https://secure.tamper.test/",
    "tamper-http-rewrite": "http://download.tamper.test/setup.exe",
    "tamper-dns-dnat": None,
}
for s, hit in expect.items():
    ms = by_input(load(f"{s}.wc.jsonl"))
    check(f"{s}: every input measured ({len(ms)} of 5)", len(ms) == 5)
    for url, tk in ms.items():
        https = url.startswith("https:")
        if https:
            want = s == "tamper-tls-intercept" and url == hit
            x = tk.get("x_tls_interception")
            check(f"{s}: {url} intercepted {want}", x is not None and x.get("intercepted") is want, json.dumps(x))
            check(f"{s}: {url} no x_http_tampering on https", tk.get("x_http_tampering") is None)
            if want:
                check(f"{s}: issuer is the interception CA", "interception CA" in (x.get("issuer") or ""), x.get("issuer"))
                check(f"{s}: chains differ, both recorded", x["probe_chain_sha256"] and x["control_chain_sha256"]
                      and x["probe_chain_sha256"] != x["control_chain_sha256"])
                check(f"{s}: not a public CA, anchored in --ca-file", x.get("public_ca") is False and x.get("anchor") == "ca_file", json.dumps(x))
        else:
            want = s == "tamper-http-rewrite" and url == hit
            x = tk.get("x_http_tampering")
            check(f"{s}: {url} tampered {want}", x is not None and x.get("tampered") is want, json.dumps(x))
            if want:
                check(f"{s}: both digests, different", len(x.get("probe_sha256") or "") == 64 and
                      len(x.get("control_sha256") or "") == 64 and x["probe_sha256"] != x["control_sha256"], json.dumps(x))
                check(f"{s}: the probe's copy is longer (payload appended)",
                      x["probe_length"] > x["control_length"] > 0, json.dumps(x))
        check(f"{s}: {url} still accessible, not blocked", tk.get("blocking") is False and tk.get("accessible") is True,
              f'{tk.get("blocking")} {tk.get("accessible")}')
    rid = {m["input"].split(":")[0]: m["test_keys"] for m in load(f"{s}.rid.jsonl")}
    for proto in ("udp", "tcp"):
        x = (rid.get(proto) or {}).get("x_resolver_identity")
        want = s == "tamper-dns-dnat"
        check(f"{s}: resolver identity over {proto}: dnat {want}", x is not None and x.get("dnat") is want,
              json.dumps(x))
        # the public resolver asks from its control-LAN address; the ISP resolver from the
        # censor's transit address
        want_by = "198.18.2.1" if want else "198.18.5.1"
        check(f"{s}: {proto}: answered_by {want_by}", x is not None and x.get("answered_by") == want_by,
              json.dumps(x))

# --doh: the public resolver's DoH view (dnsdist) as the only reference, and the reply TTLs
def ridoh(name):
    return {m["input"].split(":")[0]: m["test_keys"] for m in load(name)}
TTL_KEYS = ("dns_reply_ttl", "other_reply_ttl", "dns_hops", "other_hops", "hop_difference", "other_reply")
for name, dnat, by, ttls in (
        ("tamper-none.doh.jsonl", False, "198.18.5.1", (63, 63, 0)),
        ("tamper-dns-dnat.doh.jsonl", True, "198.18.2.1", (64, 63, 1)),
        ("tamper-dns-dnat-far.doh.jsonl", True, "198.18.70.5", (64, 61, 3)),
        ("tamper-dns-proxy-far.doh.jsonl", None, "198.18.5.1", (64, 61, 3)),
        ("tamper-dns-dnat.nopriv.jsonl", True, "198.18.2.1", None)):
    ms = ridoh(name)
    for proto in ("udp", "tcp"):
        tk = ms.get(proto) or {}
        x = tk.get("x_resolver_identity") or {}
        ev = " | ".join(x.get("evidence") or [])
        what = f"{name} {proto}"
        check(f"{what}: dnat {dnat}, answered_by {by}", x.get("dnat") is dnat and x.get("answered_by") == by, json.dumps(x))
        check(f"{what}: the DoH view (dnsdist) answered from the public resolver's egress",
              x.get("doh_answered_by") == "198.18.5.1" and x.get("egress") == [], json.dumps(x))
        check(f"{what}: the domain's answers agree through both", "the resolver and its DoH view agree" in ev, ev)
        if dnat is None:
            check(f"{what}: undetermined, the TTL conflict first in the evidence",
                  (x.get("evidence") or [""])[0].startswith("undetermined: 198.18.5.1 is the operator's, but its DNS replies come from 3 hops closer")
                  and tk.get("x_outcome") == "undetermined", ev)
        if dnat:
            check(f"{what}: the evidence is the DoH view's", "outside the DoH view's network (198.18.5.1)" in ev, ev)
        else:
            check(f"{what}: in the DoH view's network", "in the network of the DoH view's egress 198.18.5.1" in ev, ev)
        if ttls is None:
            check(f"{what}: without CAP_NET_RAW no TTLs, and why",
                  x.get("reply_ttl_status") == "no_privilege" and all(x.get(k, 0) is None for k in TTL_KEYS)
                  and "needs CAP_NET_RAW" in ev and tk.get("x_packets_status") == "no_privilege", json.dumps(x))
            check(f"{what}: without CAP_NET_RAW no other-traffic handshake",
                  not any("other_traffic" in (c.get("tags") or []) for c in tk.get("tcp_connect") or []))
            continue
        dttl, ottl, diff = ttls
        check(f"{what}: reply TTLs {dttl} (DNS) vs {ottl} (tcp/443 syn-ack), {diff} hops apart",
              x.get("reply_ttl_status") == "compared" and x.get("dns_reply_ttl") == dttl and x.get("other_reply_ttl") == ottl
              and x.get("hop_difference") == diff and x.get("other_reply") == "tcp/443 syn-ack", json.dumps(x))
        counted = diff > 1
        check(f"{what}: TTL claim {counted}", (f"from a box {diff} hops closer" in ev) is counted
              and ("(not counted)" in ev) is (not counted), ev)
        check(f"{what}: the handshake is recorded (tcp_connect tagged other_traffic)",
              any("other_traffic" in (c.get("tags") or []) and c.get("port") == 443 for c in tk.get("tcp_connect") or []))
        check(f"{what}: no injection claimed", not any(e.get("injected") for e in tk.get("x_middlebox") or []),
              json.dumps(tk.get("x_middlebox")))

# nothing answers on 443 or 853: no comparison, and why (the DNAT still seen by the identity)
tk = (load("blocked.jsonl") or [{}])[0].get("test_keys") or {}
x = tk.get("x_resolver_identity") or {}
ev = " | ".join(x.get("evidence") or [])
check("blocked: dnat true from the identity (answered_by 198.18.2.1)", x.get("dnat") is True and x.get("answered_by") == "198.18.2.1", json.dumps(x))
check("blocked: reply TTLs not compared, the DNS side still recorded",
      x.get("reply_ttl_status") == "no_other_reply" and x.get("dns_reply_ttl") == 64 and x.get("other_reply_ttl") is None
      and x.get("hop_difference") is None and x.get("other_reply") is None, json.dumps(x))
check("blocked: the evidence says nothing answered on 443 or 853, with the failure",
      "answered nothing on TCP 443 or 853 (generic_timeout_error)" in ev, ev)
tried = sorted(c.get("port") for c in tk.get("tcp_connect") or [] if "other_traffic" in (c.get("tags") or []))
check("blocked: 443 then 853 tried, both timed out", tried == [443, 853] and all(
      (c.get("status") or {}).get("failure") == "generic_timeout_error" for c in tk.get("tcp_connect") or []
      if "other_traffic" in (c.get("tags") or [])), json.dumps(tk.get("tcp_connect")))

# the report's "Who and where": the DNAT with its reply-TTL backing; the proxy is no DNAT
rep = open(os.path.join(work, "tamper-dns-dnat-far.report.txt"), encoding="utf-8").read()
check("report: Who and where names the DNAT and the hop difference",
      "answered by 198.18.70.5 (DNAT), its DNS replies 3 hops closer than its other traffic" in rep, rep[-800:])
rep = open(os.path.join(work, "tamper-dns-proxy-far.report.txt"), encoding="utf-8").read()
check("report: no DNAT claimed for the transparent proxy", "(DNAT)" not in rep, rep[-800:])

nat = load("national.jsonl")
check(f"national slice measured ({len(nat)} URLs)", len(nat) >= 250)
https = [m for m in nat if m["input"].startswith("https:")]
compared = [m for m in https if m["test_keys"].get("x_tls_interception") is not None]
check(f"national: TLS chains compared ({len(compared)} of {len(https)} https URLs)", len(compared) >= len(https) * 0.8)
bad = [m["input"] for m in nat if tls(m["test_keys"]) is True]
check("national: 0 interception claims", not bad, str(bad[:5]))
http = [m for m in nat if m["input"].startswith("http:")]
hashed = [m for m in http if m["test_keys"].get("x_http_tampering") is not None]
check(f"national: bodies compared ({len(hashed)} of {len(http)} http URLs)", len(hashed) >= len(http) * 0.8)
bad = [m["input"] for m in nat if tam(m["test_keys"]) is True]
check("national: 0 tampering claims", not bad, str(bad[:5]))
print(f"forensics_tamper: {p} passed, {f} failed")
sys.exit(1 if f else 0)
PY
