#!/usr/bin/env python3
"""demo_report.py MEASUREMENTS.jsonl [TRUTH.csv] - a plain-text report of a web_connectivity
run: verdicts by method and by Citizen Lab category, confirmed blockpages, and, on the
testbed's national world, agreement with the ground truth (what the censor really did)."""
import csv, collections, json, sys

def verdict(tk):
    b = tk.get("blocking")
    if isinstance(b, str): return b
    if b is False: return "accessible" if tk.get("accessible") else "down"
    return "undetermined"

ms = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
by_v = collections.Counter(); by_cat = collections.defaultdict(collections.Counter)
fps = collections.Counter(); optin = 0
for m in ms:
    tk = m["test_keys"]; v = verdict(tk)
    by_v[v] += 1
    by_cat[(m.get("annotations") or {}).get("category_code", "?")][v] += 1
    bp = tk.get("x_blockpage")
    if isinstance(bp, dict) and bp.get("name") and bp.get("kind") in ("censorship", "optin"):
        fps[bp["name"]] += 1
        optin += bool(tk.get("x_blockpage_optin"))
blocked = sum(n for v, n in by_v.items() if v not in ("accessible", "down", "undetermined"))
print(f"\n== censorscope report: {len(ms)} URLs measured")
print(f"accessible {by_v['accessible']}, blocked {blocked}, site down {by_v['down']}, undetermined {by_v['undetermined']}")
print("blocked by method: " + ", ".join(f"{k} {by_v[k]}" for k in ("dns", "tcp_ip", "http-failure", "http-diff")))
if fps:
    print("blockpages recognised by fingerprint: " + ", ".join(f"{k} ({n})" for k, n in fps.most_common()))
    if optin: print(f"  of which {optin} are a subscriber's opt-in filter, not state censorship")
print("\nby category (blocked/total):")
for cat, c in sorted(by_cat.items(), key=lambda kv: -sum(kv[1].values())):
    tot = sum(c.values()); b = tot - c["accessible"] - c["down"] - c["undetermined"]
    print(f"  {cat:8s} {b:5d}/{tot:<5d}")
if len(sys.argv) > 2 and sys.argv[2]:
    truth = {r["url"]: r for r in csv.DictReader(open(sys.argv[2], encoding="utf-8"))}
    agree = tot = 0; conf = collections.Counter()
    for m in ms:
        t = truth.get(m["input"])
        if not t: continue
        tot += 1
        got = verdict(m["test_keys"]); want = t["expected_blocking"]
        want = "accessible" if want == "false" else want
        conf[(want, got)] += 1
        agree += want == got
    print(f"\nagreement with the testbed's ground truth: {agree}/{tot}")
    for (w, g), n in sorted(conf.items(), key=lambda kv: -kv[1]):
        if w != g: print(f"  truth {w:13s} -> verdict {g:13s} {n}")
