#!/usr/bin/env python3
"""truth_check.py MEASUREMENTS.jsonl TRUTH.csv - on the testbed's national world, compares
each web_connectivity verdict with what the censor really did to that URL (the ground truth
the testbed writes), and prints the agreement and every kind of disagreement."""
import collections, csv, json, sys

def verdict(tk):
    b = tk.get("blocking")
    if isinstance(b, str): return b
    if b is False: return "accessible" if tk.get("accessible") else "down"
    return "undetermined"

truth = {r["url"]: r for r in csv.DictReader(open(sys.argv[2], encoding="utf-8"))}
agree = tot = 0
conf = collections.Counter()
for ln in open(sys.argv[1], encoding="utf-8"):
    if not ln.strip(): continue
    m = json.loads(ln)
    t = truth.get(m["input"])
    if not t or t.get("method") == "skipped-ip-literal": continue
    tot += 1
    want = "accessible" if t["expected_blocking"] == "false" else t["expected_blocking"]
    got = verdict(m["test_keys"])
    conf[(t["method"], want, got)] += 1
    agree += want == got
print(f"\nagreement with the testbed's ground truth: {agree}/{tot} URLs")
for (meth, w, g), n in sorted(conf.items(), key=lambda kv: -kv[1]):
    if w != g: print(f"  censor method {meth:15s} truth {w:13s} -> verdict {g:13s} {n}")
