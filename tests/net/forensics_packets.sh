#!/usr/bin/env bash
# forensics_packets.sh - packet evidence in the testbed (docs/forensics.md): each injector of
# testbed/scenarios/forensics/injectors.scn must get the right x_middlebox verdict from the
# packets the probe captured (injected or not, family, seed, TTL copied or not: the TTL-copy
# probe; on urlgetter, web_connectivity and dnscheck), the drop-only box none; a gateway at hop 3 of a 5-hop path is estimated at hop 3; without
# CAP_NET_RAW the probe still measures and says what it could not see; and a run over the
# uncensored national world with capture on attributes nothing (a 600-URL subset of the
# national list, to stay under 2 minutes: CS_FX_NATIONAL=N changes it, 0 for all 2,392).
# Root needed (network namespaces, capture).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
NAT=${CS_FX_NATIONAL:-600}
work=$(mktemp -d)
hpid=
cleanup() { [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
[ -n "${CS_FX_KEEP:-}" ] && trap 'echo "kept $work"; [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1' EXIT
fail_setup() { cat "$1"; echo "0 passed, 1 failed"; exit 1; }

$TB up forensics/injectors >"$work/up.log" 2>&1 || fail_setup "$work/up.log"
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work") || fail_setup "$work/helper.log"
P=(--ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --no-db -q --tcp-timeout 2 --tls-timeout 2
   --http-timeout 3 --dns-timeout 2)
ug() { $TB exec client -- "$BIN" urlgetter "${P[@]}" "$@"; }
# 1. TCP injectors and the drop-only box (system resolver)
ug -j 8 -o "$work/tcp.jsonl" https://gw.fx.lab.test/ https://pk.fx.lab.test/ \
  https://tsg.fx.lab.test/ https://tsg2.fx.lab.test/ https://drop.fx.lab.test/ https://ok.fx.lab.test/
# 2. DNS injectors: plain DNS to the public resolver, so replies come on a socket of ours
#    (dnscopy: an injector mirroring the query's TTL; the TTL-copy probe tells it apart)
ug -j 4 -o "$work/dns.jsonl" --resolver "udp://$CS_TB_PUBLIC_RESOLVER:53" \
  http://dnstsg.fx.lab.test/ http://dnsgfw.fx.lab.test/ http://ok.fx.lab.test/ \
  http://dnscopy.fx.lab.test/
# 2b. answer ranges (`answers-in`, data/middlebox/README.md): the shipped fingerprints plus two
#     test definitions that differ only in the range; the forged A answer fits one of them
mkdir -p "$work/fp" && cp data/middlebox/*.fp "$work/fp/"
cat >"$work/fp/zz-range-test.fp" <<'FP'
id fx-pool-in
name test: TSG traits and the testbed injector's answer pool
source tests/net/forensics_packets.sh
kind dns
dns-flags 8180
compression true
answers-in 203.0.113.0/24, 198.18.4.0/24

id fx-pool-out
name test: TSG traits and another pool
source tests/net/forensics_packets.sh
kind dns
dns-flags 8180
compression true
answers-in 203.0.113.0/24
FP
$TB exec client -- env CS_MIDDLEBOX_DIR="$work/fp" "$BIN" urlgetter "${P[@]}" -o "$work/range.jsonl" \
  --resolver "udp://$CS_TB_PUBLIC_RESOLVER:53" http://dnstsg.fx.lab.test/
# 2c. dnscheck: its lookups share the measurement's capture (and the TTL-copy probe)
DC=(dnscheck --lab-net "$CS_TB_LAB_NET" --no-db -q --dns-timeout 2)
for d in dnscopy ok; do
  $TB exec client -- "$BIN" "${DC[@]}" --domain "$d.fx.lab.test" -o "$work/dc-$d.jsonl" \
    "udp://$CS_TB_PUBLIC_RESOLVER:53"
done
$TB exec client -- setpriv --inh-caps=-net_raw --ambient-caps=-net_raw --bounding-set=-net_raw \
  "$BIN" "${DC[@]}" --domain dnscopy.fx.lab.test -o "$work/dc-np.jsonl" "udp://$CS_TB_PUBLIC_RESOLVER:53"
$TB exec client -- "$BIN" "${DC[@]}" --no-packets --domain dnscopy.fx.lab.test -o "$work/dc-off.jsonl" \
  "udp://$CS_TB_PUBLIC_RESOLVER:53"
# 3. web_connectivity carries the same keys
$TB exec client -- "$BIN" web_connectivity "${P[@]}" --th "https://$CS_TB_CONTROL_ADDR/" \
  -o "$work/wc.jsonl" https://tsg.fx.lab.test/ https://ok.fx.lab.test/
# 4. without CAP_NET_RAW (dropped from every capability set): it still measures
$TB exec client -- setpriv --inh-caps=-net_raw --ambient-caps=-net_raw --bounding-set=-net_raw \
  "$BIN" urlgetter "${P[@]}" -o "$work/nopriv.jsonl" https://tsg.fx.lab.test/
# 5. --no-packets
ug -o "$work/off.jsonl" --no-packets https://gw.fx.lab.test/

python3 - "$work" "$CS_TB_CLIENT_ADDR" >"$work/res1" <<'PY'
import json, sys
d, me = sys.argv[1], sys.argv[2]
def load(n):
    out = {}
    for l in open(f"{d}/{n}.jsonl", encoding="utf-8"):
        m = json.loads(l); out[m["input"]] = m
    return out
tcp, dns, wc, nop, off, rng = (load(n) for n in ("tcp", "dns", "wc", "nopriv", "off", "range"))
p = f = 0
def check(name, fn, m):
    global p, f
    try: ok = bool(fn(m["test_keys"]))
    except Exception as e: ok = False; name += f" ({type(e).__name__}: {e})"
    if ok: p += 1; print(f"ok:   {name}")
    else:
        f += 1; tk = m["test_keys"]
        print(f"FAIL: {name}\n      x_middlebox={json.dumps(tk.get('x_middlebox'))}\n"
              f"      status={tk.get('x_packets_status')} failure={tk.get('failure')}")
def one(tk, kind="rst"):
    e = [x for x in (tk["x_middlebox"] or []) if x["kind"] == kind]
    assert len(e) == 1, f"{len(e)} {kind} entries"
    return e[0]
def synack(tk):
    return any(x["flags"] == "SA" for x in tk["x_packets"] if x["proto"] == "tcp")
dc = {n: next(iter(load(f"dc-{n}").values())) for n in ("dnscopy", "ok", "np", "off")}
G, PK, T1, T2, DR, OK = ("https://%s.fx.lab.test/" % h for h in ("gw", "pk", "tsg", "tsg2", "drop", "ok"))
check("gateway RST: reset recorded, capture ok, SYN-ACK baseline captured",
      lambda tk: tk["failure"] == "connection_reset" and tk["x_packets_status"] == "ok" and synack(tk), tcp[G])
check("gateway RST: injected by TTL (128 vs the server's 63), 1 hop away, no family",
      lambda tk: one(tk)["injected"] is True and one(tk)["ttl"] == 128
      and any("ttl 128 vs syn-ack 63" in r for r in one(tk)["reasons"])
      and one(tk)["hops_from_probe"] == 1 and one(tk)["family"] is None and one(tk)["seed"] is None, tcp[G])
check("Pakistan-RST-like box: injected, RA without DF, family pk-rst",
      lambda tk: one(tk)["injected"] is True and one(tk)["flags"] == "RA" and one(tk)["df"] is False
      and one(tk)["family"] == "pk-rst", tcp[PK])
check("TSG signature mode, seed 13: 3 RSTs, family tsg-signature, seed 13",
      lambda tk: one(tk)["injected"] is True and one(tk)["count"] == 3
      and one(tk)["family"] == "tsg-signature" and one(tk)["seed"] == 13, tcp[T1])
check("TSG signature mode, seed 4242: seed solved",
      lambda tk: one(tk)["family"] == "tsg-signature" and one(tk)["seed"] == 4242, tcp[T2])
check("drop-only box: timeout, SYN-ACK seen, no injection claimed",
      lambda tk: tk["failure"] == "generic_timeout_error" and synack(tk) and tk["x_middlebox"] is None, tcp[DR])
check("uncensored site: status ok, genuine packets only, nothing attributed",
      lambda tk: tk["failure"] is None and tk["x_packets_status"] == "ok" and synack(tk)
      and tk["x_middlebox"] is None, tcp[OK])
# the injectors answer the AAAA query too (no record): one entry per query, all injected;
# the forged A answer carries the family's traits
def dns_a(tk):
    e = [x for x in (tk["x_middlebox"] or []) if x["kind"] == "dns"]
    assert e and all(x["injected"] is True for x in e), "not every dns entry injected"
    a = [x for x in e if x["answers"] == ["198.18.4.80"]]
    assert len(a) == 1, f"{len(a)} entries with the forged A answer"
    return a[0]
check("DNS injector with TSG traits: racing reply injected, family tsg-gfw2-dns",
      lambda tk: dns_a(tk)["flags"] == "0x8180" and dns_a(tk)["compression"] is True
      and dns_a(tk)["family"] == "tsg-gfw2-dns"
      and any("ttl 64 vs 63 of the later reply" in r for r in dns_a(tk)["reasons"]),
      dns["http://dnstsg.fx.lab.test/"])
check("DNS injector with GFW-1 traits: family gfw-dns-1",
      lambda tk: dns_a(tk)["flags"] == "0x8580" and dns_a(tk)["compression"] is False
      and dns_a(tk)["family"] == "gfw-dns-1", dns["http://dnsgfw.fx.lab.test/"])
check("uncensored name over plain DNS: replies captured, nothing attributed",
      lambda tk: any(x.get("dns_flags") for x in tk["x_packets"]) and tk["x_middlebox"] is None,
      dns["http://ok.fx.lab.test/"])
# the TTL-copy probe (docs/forensics.md): the query resent with 3 TTLs
def dns_fa(tk):
    e = [x for x in (tk["x_middlebox"] or []) if x["kind"] == "dns" and x["answers"] == ["198.18.4.80"]]
    assert len(e) == 1, f"{len(e)} dns entries with the forged A answer"
    return e[0]
def probe_shift(e):
    # per probe: (sent ttl, ttl of the forged reply, ttl of the real one)
    out = []
    for pr in e["ttl_probe"]:
        f = [r["ttl"] for r in pr["replies"] if r["answers"] == ["198.18.4.80"]]
        g = [r["ttl"] for r in pr["replies"] if r["answers"] and r["answers"] != ["198.18.4.80"]]
        out.append((pr["sent_ttl"], f[0], g[0]))
    assert len(out) == 3 and len({s for s, _, _ in out}) == 3, f"probes {out}"
    return out
CP = "http://dnscopy.fx.lab.test/"
check("TTL-copying injector: forged and real reply arrive with the same TTL (the naive test sees no TTL difference)",
      lambda tk: [x["ttl"] for x in tk["x_packets"] if x.get("answer_a") == ["198.18.4.80"] and "sent_ttl" not in x]
      == [x["ttl"] for x in tk["x_packets"] if x.get("answer_a") == ["198.18.72.9"] and "sent_ttl" not in x], dns[CP])
check("TTL-copying injector: ttl_copied true, injected true by the probe, forged TTL - sent TTL constant, real TTL fixed",
      lambda tk: dns_fa(tk)["ttl_copied"] is True and dns_fa(tk)["injected"] is True
      and len({f - s for s, f, _ in probe_shift(dns_fa(tk))}) == 1
      and len({g for _, _, g in probe_shift(dns_fa(tk))}) == 1
      and any("follows the sent ttl" in r for r in dns_fa(tk)["reasons"])
      and dns_fa(tk)["hops_from_probe"] is None and dns_fa(tk)["family"] == "tsg-gfw2-dns", dns[CP])
check("fixed-TTL injector (dns-tsg): ttl_copied false, the forged TTL the same for every sent TTL",
      lambda tk: dns_fa(tk)["ttl_copied"] is False
      and len({f for _, f, _ in probe_shift(dns_fa(tk))}) == 1
      and any("whatever the sent ttl" in r for r in dns_fa(tk)["reasons"]), dns["http://dnstsg.fx.lab.test/"])
check("answer ranges: the forged answer's pool decides between two definitions (fx-pool-in, not fx-pool-out)",
      lambda tk: dns_fa(tk)["family"] == "fx-pool-in"
      and any("fit fingerprint fx-pool-in" in r for r in dns_fa(tk)["reasons"]), rng["http://dnstsg.fx.lab.test/"])
check("uncensored name: no TTL-copy probe sent, nothing attributed",
      lambda tk: not any("sent_ttl" in x for x in tk["x_packets"]) and tk["x_middlebox"] is None,
      dns["http://ok.fx.lab.test/"])
check("dnscheck, TTL-copying injector: capture ok, the forged reply injected, ttl_copied true",
      lambda tk: tk["x_packets_status"] == "ok" and dns_fa(tk)["ttl_copied"] is True
      and dns_fa(tk)["injected"] is True and len(dns_fa(tk)["ttl_probe"]) == 3, dc["dnscopy"])
check("dnscheck, uncensored name: replies captured, no probe, nothing attributed",
      lambda tk: any(x.get("dns_flags") for x in tk["x_packets"]) and tk["x_middlebox"] is None
      and not any("sent_ttl" in x for x in tk["x_packets"]), dc["ok"])
check("dnscheck without CAP_NET_RAW: lookups measured, no_privilege, nothing attributed",
      lambda tk: tk["x_packets_status"] == "no_privilege" and tk["lookups"] and tk["x_packets"] is None
      and tk["x_middlebox"] is None, dc["np"])
check("dnscheck --no-packets: status disabled", lambda tk: tk["x_packets_status"] == "disabled"
      and tk["x_middlebox"] is None, dc["off"])
check("web_connectivity: blocked, with the TSG verdict in x_middlebox",
      lambda tk: tk["blocking"] == "http-failure" and one(tk)["family"] == "tsg-signature"
      and one(tk)["seed"] == 13, wc[T1])
check("web_connectivity: accessible site, nothing attributed",
      lambda tk: tk["accessible"] is True and tk["x_packets_status"] == "ok" and tk["x_middlebox"] is None, wc[OK])
check("without CAP_NET_RAW: measured (reset recorded), says no_privilege and what it missed",
      lambda tk: tk["failure"] == "connection_reset" and tk["x_packets_status"] == "no_privilege"
      and "CAP_NET_RAW" in tk["x_packets_note"] and tk["x_packets"] is None and tk["x_middlebox"] is None,
      nop[T1])
check("--no-packets: status disabled", lambda tk: tk["x_packets_status"] == "disabled"
      and tk["failure"] == "connection_reset", off[G])
allm = [m for s in (tcp, dns, wc, nop, off, rng) for m in s.values()] + list(dc.values())
check("the probe's own address appears nowhere",
      lambda tk: all(me not in json.dumps(m) for m in allm), allm[0])
print(f"injectors: {p} passed, {f} failed")
PY
cat "$work/res1"
kill "$hpid" 2>/dev/null; hpid=
$TB down >/dev/null 2>&1

# 6. rst-inject at hop 3 of a 5-hop path (hops 5 censor=3): the RST's TTL says hop 3
$TB up forensics/rst-hop3 >"$work/up3.log" 2>&1 || fail_setup "$work/up3.log"
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
P=(--ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --no-db -q --tcp-timeout 2 --tls-timeout 2
   --http-timeout 3 --dns-timeout 2)
ug -o "$work/hop.jsonl" https://www.wikipedia.org/
python3 - "$work/hop.jsonl" "${CS_TB_CENSOR_HOP:-}" >"$work/res3" <<'PY'
import json, sys
tk = json.loads(open(sys.argv[1], encoding="utf-8").readline())["test_keys"]
hop = int(sys.argv[2])
e = [x for x in (tk["x_middlebox"] or []) if x["kind"] == "rst"]
ok = (hop == 3 and tk["failure"] == "connection_reset" and len(e) == 1 and e[0]["injected"] is True
      and e[0]["ttl"] == 128 - (hop - 1) and e[0]["hops_from_probe"] == hop)
print(("ok:   " if ok else "FAIL: ") + f"rst-inject at hop {hop} of 5: injected, ttl 128-{hop - 1}, "
      f"hops_from_probe {hop}" + ("" if ok else f"\n      x_middlebox={json.dumps(tk.get('x_middlebox'))}"))
print(f"hops: {int(ok)} passed, {int(not ok)} failed")
PY
cat "$work/res3"
$TB down >/dev/null 2>&1

# 7. the uncensored national world, capture on: 0 false attributions
CS_TB_BLOCK_SHARE=0 $TB up pk-national >"$work/up2.log" 2>&1 || fail_setup "$work/up2.log"
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work") || fail_setup "$work/helper.log"
scripts/national-list.sh >"$work/list.csv"
if [ "$NAT" -gt 0 ]; then head -n $((NAT + 1)) "$work/list.csv" >"$work/sub.csv"; else cp "$work/list.csv" "$work/sub.csv"; fi
$TB exec client -- "$BIN" web_connectivity -q -j 128 --th "https://$CS_TB_CONTROL_ADDR/" \
  --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --no-db -o "$work/nat.jsonl" -f "$work/sub.csv"
python3 - "$work/nat.jsonl" "$work/sub.csv" >"$work/res2" <<'PY'
import json, sys
ms = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
n = sum(1 for _ in open(sys.argv[2], encoding="utf-8")) - 1
p = f = 0
def check(name, ok, detail=""):
    global p, f
    if ok: p += 1; print(f"ok:   {name}")
    else: f += 1; print(f"FAIL: {name} {detail}")
tks = [m["test_keys"] for m in ms]
check(f"uncensored national subset: every URL measured ({len(ms)} of {n})", len(ms) == n)
check("capture ok on every measurement", all(t["x_packets_status"] == "ok" for t in tks),
      str({t["x_packets_status"] for t in tks}))
npk = sum(len(t["x_packets"]) for t in tks)
check(f"packets were captured ({npk})", npk >= len(ms))
bad = [(m["input"], e) for m in ms for e in (m["test_keys"]["x_middlebox"] or [])
       if e["injected"] is True or e["family"] is not None or e["seed"] is not None]
check("0 false attributions (no injected:true, no family, no seed)", not bad, str(bad[:3]))
print(f"national: {p} passed, {f} failed")
PY
cat "$work/res2"
tp=0; tf=0
for r in "$work/res1" "$work/res3" "$work/res2"; do
  l=$(grep -E '^[a-z]+: [0-9]+ passed, [0-9]+ failed$' "$r" 2>/dev/null | tail -n1)
  if [ -z "$l" ]; then tf=$((tf + 1)); continue; fi
  read -r _ a _ b _ <<<"$l"
  tp=$((tp + a)); tf=$((tf + b))
done
echo "$tp passed, $tf failed"
[ "$tf" -eq 0 ]
