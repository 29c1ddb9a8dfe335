#!/usr/bin/env python3
"""Where a warm loop's CPU goes: `perf report` of a `bench.py --perf DIR` recording, self time
grouped by crate (the first path segment of each demangled Rust symbol; C symbols by prefix;
kernel symbols as [kernel]). Usage: python3 bench/perf_summary.py DIR/<event>.data [--top 25]
"""
import argparse
import collections
import re
import subprocess


def crate_of(sym: str, dso: str) -> str:
    if dso.startswith("[kernel"):
        return "[kernel]"
    if dso.startswith(("libc", "ld-linux")):
        return "libc"
    s = sym
    while s.startswith(("<", "&", "*", "dyn ", "mut ", "const ")):
        s = s[1:] if s[0] in "<&*" else s.split(" ", 1)[1]
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", s)
    if m:
        return m.group(1)
    if s.startswith("aws_lc"):
        return "aws-lc (C)"
    return "other: " + s[:40]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    out = subprocess.run(["perf", "report", "-i", args.data, "--stdio", "--no-children", "-q",
                          "--sort", "dso,sym", "-F", "overhead,dso,sym"],
                         capture_output=True, text=True, check=True).stdout
    by_crate: "collections.Counter[str]" = collections.Counter()
    by_sym = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        by_crate[crate_of(sym, dso)] += pct
        by_sym.append((pct, sym))
    print("self time by crate:")
    for crate, pct in by_crate.most_common(args.top):
        print(f"  {pct:6.2f} %  {crate}")
    print("top symbols:")
    for pct, sym in sorted(by_sym, reverse=True)[: args.top]:
        print(f"  {pct:6.2f} %  {sym[:150]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
