#!/usr/bin/env python3
"""check_scenario.py SCENARIO.scn MEASUREMENTS.jsonl DEVIATIONS - compares web_connectivity
measurements with the verdict a testbed scenario declares next to itself.

Scenario lines used: `input URL`, `expect KEY VALUE` (applies to every input), `expect-url URL
KEY VALUE` (overrides for one input). Keys checked: blocking, accessible, dns_consistency,
dns_experiment_failure, http_experiment_failure, control_failure, fingerprint (our
x_blockpage.name) and optin (x_blockpage_optin). `method` names the testbed's censor method
and is not a measurement key. DEVIATIONS lines: `SCENARIO URL|* KEY OUR_VALUE REASON...`:
where censorscope deliberately differs from OONI (docs/analysis.md), the expected value is
replaced by ours and the reason printed. Prints one line per check and "N passed, M failed"."""
import json, sys

CHECKED = ("blocking", "accessible", "dns_consistency", "dns_experiment_failure",
           "http_experiment_failure", "control_failure", "fingerprint", "optin")

def norm(v):
    if v is None: return "null"
    if v is True: return "true"
    if v is False: return "false"
    return str(v)

def main():
    scn, mfile, devfile = sys.argv[1:4]
    name, inputs, common, per = None, [], {}, {}
    for ln in open(scn, encoding="utf-8"):
        w = ln.split()
        if not w or w[0].startswith("#"): continue
        if w[0] == "name": name = w[1]
        elif w[0] == "input": inputs.append(w[1])
        elif w[0] == "expect" and len(w) >= 3: common[w[1]] = " ".join(w[2:])
        elif w[0] == "expect-url" and len(w) >= 4: per.setdefault(w[1], {})[w[2]] = " ".join(w[3:])
    devs = {}
    for ln in open(devfile, encoding="utf-8"):
        w = ln.split()
        if len(w) >= 4 and not w[0].startswith("#") and w[0] == name:
            devs[(w[1], w[2])] = (w[3], " ".join(w[4:]))
    ms = {}
    for ln in open(mfile, encoding="utf-8"):
        if ln.strip():
            m = json.loads(ln); ms[m["input"]] = m
    p = f = 0
    for url in inputs:
        exp = dict(common); exp.update(per.get(url, {}))
        m = ms.get(url)
        if m is None:
            print(f"FAIL: {name} {url}: no measurement"); f += 1; continue
        tk = m["test_keys"]
        bp = tk.get("x_blockpage") or {}
        got = {k: norm(tk.get(k)) for k in CHECKED[:6]}
        got["fingerprint"] = bp.get("name", "none") if isinstance(bp, dict) else "none"
        got["optin"] = norm(bool(tk.get("x_blockpage_optin")))
        for k in CHECKED:
            if k not in exp: continue
            want, note = exp[k], ""
            for key in ((url, k), ("*", k)):
                if key in devs:
                    want, note = devs[key][0], f" (deviation from OONI's {exp[k]}: {devs[key][1]})"
                    break
            if got[k] in want.split("|"):  # "A|B": either is right
                p += 1; print(f"ok:   {name} {url} {k}={want}{note}")
            else:
                f += 1
                print(f"FAIL: {name} {url} {k}: want {want}, got {got[k]}{note}"
                      f"  [reason: {tk.get('x_analysis_reason')}]")
    print(f"{p} passed, {f} failed")
    sys.exit(1 if f else 0)

main()
