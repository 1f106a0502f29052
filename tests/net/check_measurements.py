#!/usr/bin/env python3
"""check_measurements.py JSONL SPEC - asserts facts about measurements, one line per check.

SPEC lines: `INPUT_URL <TAB> NAME <TAB> PYTHON_EXPR`; the expression sees `m` (the
measurement), `tk` (its test_keys), and helpers below. Prints `ok`/`FAIL` per check and a
closing "N passed, M failed" line; exits non-zero on any failure."""
import json, sys

def last_req(tk):
    r = tk.get("requests") or []
    return r[0] if r else {}

def code(tk):
    return last_req(tk).get("response", {}).get("code", 0)

def body(tk):
    b = last_req(tk).get("response", {}).get("body", "")
    return b if isinstance(b, str) else ""

def failures(lst):
    return [x.get("failure") if "failure" in x else x.get("status", {}).get("failure") for x in lst]

def main():
    ms = {}
    for ln in open(sys.argv[1]):
        ln = ln.strip()
        if ln:
            m = json.loads(ln)
            ms.setdefault(m["input"], []).append(m)
    passed = failed = 0
    for spec in open(sys.argv[2]):
        spec = spec.rstrip("\n")
        if not spec.strip() or spec.startswith("#"):
            continue
        url, name, expr = spec.split("\t", 2)
        got = ms.get(url)
        ok, why = False, "no measurement for this input"
        if got:
            m = got[0]
            tk = m["test_keys"]
            try:
                ok = bool(eval(expr, {"m": m, "tk": tk, "code": code, "body": body,
                                      "failures": failures, "last_req": last_req, "json": json}))
                why = "" if ok else f"failure={tk.get('failure')!r} op={tk.get('failed_operation')!r}"
            except Exception as e:  # a missing key is a failed check, not a crash
                why = f"{type(e).__name__}: {e}"
        if ok:
            passed += 1
            print(f"ok:   {name}")
        else:
            failed += 1
            print(f"FAIL: {name}: {expr}  [{why}]")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)

main()
