#!/usr/bin/env python3
"""check_throttling.py - compare `censorscope throttling` measurements with the `expect` lines of
the testbed's throttling scenarios (testbed/scenarios/throttling/*.scn). Used by
tests/net/throttling_testbed.sh and bench/throttling.sh.

Expect keys (docs/testbed.md, "Throttling"):
  throttled true|false|null[|...]   test_keys.throttled (alternatives separated by '|')
  pattern policer|stall|null        x_throttling.pattern
  rate_bps BITS [TOL%]              x_throttling.rate_bps within TOL (default 15 %) of BITS
  stall_after_bytes LO-HI           x_throttling.stall_after_bytes in [LO, HI]
  direction down|up|both            x_throttling.direction
  keyed sni|host|ip|null            x_throttling.keyed

CLI:  check_throttling.py MANIFEST   MANIFEST lines: "scenario-file jsonl-file seconds report-file"
      prints one ok/FAIL line per check and "throttling in testbed: N passed, M failed".
"""
import json
import sys


def expects(scn_file):
    """The scenario's expect lines as {key: [words]}, and its first input (the target)."""
    exp, target = {}, None
    for line in open(scn_file, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        w = line.split()
        if len(w) >= 3 and w[0] == "expect":
            exp[w[1]] = w[2:]
        elif len(w) == 2 and w[0] == "input" and target is None:
            target = w[1]
    return exp, target


def word(v):
    """JSON value -> the word used in expect lines."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def load(jsonl, target):
    """The measurement of TARGET in a JSON-lines file (None if absent or unreadable)."""
    try:
        for line in open(jsonl, encoding="utf-8"):
            if line.strip():
                m = json.loads(line)
                if m.get("input") == target:
                    return m
    except (OSError, ValueError):
        return None
    return None


def verdict(m):
    return word(((m or {}).get("test_keys") or {}).get("throttled", "missing"))


def rate_error(m, exp):
    """|estimate - configured| / configured, or None when the scenario has no rate."""
    if "rate_bps" not in exp or not m:
        return None
    want = float(exp["rate_bps"][0])
    got = ((m.get("test_keys") or {}).get("x_throttling") or {}).get("rate_bps")
    if not isinstance(got, (int, float)):
        return float("inf")
    return abs(got - want) / want


def compare(m, exp):
    """[(check name, ok, detail)] for one measurement against the expect lines."""
    out = []
    if m is None:
        return [("measurement present", False, "no measurement for the target")]
    tk = m.get("test_keys") or {}
    x = tk.get("x_throttling") or {}
    out.append(("test_name throttling", m.get("test_name") == "throttling", m.get("test_name")))
    for key, val in exp.items():
        if key == "throttled":
            got = word(tk.get("throttled", "missing"))
            out.append((f"throttled {val[0]}", got in val[0].split("|"),
                        f"got {got} (reason {x.get('reason')}, ratio {x.get('ratio')})"))
        elif key in ("pattern", "direction", "keyed"):
            got = word(x.get(key))
            out.append((f"{key} {val[0]}", got in val[0].split("|"), f"got {got}"))
        elif key == "rate_bps":
            tol = float(val[1].rstrip("%")) / 100 if len(val) > 1 else 0.15
            err = rate_error(m, exp)
            out.append((f"rate_bps {val[0]} +-{tol:.0%}", err is not None and err <= tol,
                        f"got {x.get('rate_bps')} (error {err if err is None else round(err * 100, 1)} %)"))
        elif key == "stall_after_bytes":
            lo, _, hi = val[0].partition("-")
            got = x.get("stall_after_bytes")
            ok = isinstance(got, int) and int(lo) <= got <= int(hi or lo)
            out.append((f"stall_after_bytes in {val[0]}", ok, f"got {got}"))
    # evidence kept: every trial, and OONI's speed samples
    trials = tk.get("x_trials") or []
    out.append(("trials recorded (x_trials)", len(trials) >= 2, f"{len(trials)} trials"))
    return out


def main(manifest):
    p = f = 0
    no_section = []
    for line in open(manifest, encoding="utf-8"):
        if not line.strip():
            continue
        scn, jsonl, secs, report = line.split()
        exp, target = expects(scn)
        name = scn.rsplit("/", 1)[-1][:-4]
        m = load(jsonl, target)
        raw = ""
        try:
            raw = open(jsonl, encoding="utf-8").read()
        except OSError:
            pass
        checks = compare(m, exp)
        checks.append(("probe address scrubbed", "198.18.1.2" not in raw, ""))
        try:
            rep = open(report, encoding="utf-8").read()
        except OSError:
            rep = ""
        if "Throttling" in rep:
            # the report's Throttling section names the target with its verdict
            sec = rep[rep.index("Throttling"):]
            checks.append(("report: Throttling section lists the target", target in sec, ""))
        else:
            no_section.append(name)
        for cname, ok, detail in checks:
            if ok:
                p += 1
                print(f"ok:   [{name}] {cname} ({detail}; {secs} s)")
            else:
                f += 1
                print(f"FAIL: [{name}] {cname} ({detail}; {secs} s)")
    if no_section:
        print(f"note: `censorscope report` has no Throttling section for: {' '.join(no_section)}")
    print(f"throttling in testbed: {p} passed, {f} failed")
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
