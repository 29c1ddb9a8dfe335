#!/usr/bin/env python3
"""Cost model: $ per million requests from the measured CPU per warm invocation
(bench/RESULTS.json, written by `make bench`), per MemorySize, on arm64 in us-east-1.

Billed duration of a warm invocation = CPU time stretched by the function's CPU share
(Lambda gives MemorySize/1769 of a vCPU below 1769 MB) + the AWS calls' round trips (--aws-ms
each, DynamoDB's in-region latency on a kept-alive connection) + the Runtime API's own round
trip (--runtime-ms), rounded up to the millisecond. CPU here is this machine's x86_64; a
Graviton core is taken as equal (it is within ±20 % of it for this kind of code).

Prices (USD, us-east-1, list prices when this was written; check the AWS pricing pages):
Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests; API Gateway HTTP API
$1.00 per million requests (first 300 million a month, ≤ 512 KB each); DynamoDB on demand
$0.125 per million read request units and $0.625 per million write request units.

Usage: python3 bench/cost.py [--results bench/RESULTS.json] [--aws-ms 4] [--runtime-ms 0.5]
Prints Markdown tables (README.md "Cost model").
"""
import argparse
import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GB_SECOND = 0.0000133334
LAMBDA_REQUEST = 0.20 / 1e6
HTTP_API_REQUEST = 1.00 / 1e6
RRU = 0.125 / 1e6
WRU = 0.625 / 1e6
FULL_VCPU_MB = 1769
SIZES = (128, 256, 512, 1024, 1769)

# The requests the table prices (bench rows), and what they stand for.
REQUESTS = {
    ("api-technologies", "get-by-id (authenticated)"): "a typical read",
    ("api-technologies", "create (authenticated)"): "a typical write",
    ("api-auth", "login (Argon2id verify)"): "the CPU-bound request",
    ("api-meta", "health"): "no AWS call",
}


def billed_ms(cpu_ms: float, calls: float, memory: int, aws_ms: float, runtime_ms: float) -> int:
    share = min(1.0, memory / FULL_VCPU_MB)
    return max(1, math.ceil(cpu_ms / share + calls * aws_ms + runtime_ms))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.json"))
    ap.add_argument("--aws-ms", type=float, default=4.0)
    ap.add_argument("--runtime-ms", type=float, default=0.5)
    args = ap.parse_args()
    rows = json.loads(Path(args.results).read_text())
    print(f"Assumed: {args.aws_ms:g} ms per AWS call, {args.runtime_ms:g} ms Runtime API round trip.\n")
    print("| request | CPU (ms) | AWS calls | " + " | ".join(f"{m} MB: billed ms / $ per M" for m in SIZES)
          + " | DynamoDB RRU / WRU → $ per M | HTTP API + Lambda requests $ per M |")
    print("|---|---|---|" + "---|" * len(SIZES) + "---|---|")
    for r in rows:
        what = REQUESTS.get((r["function"], r["event"]))
        if what is None:
            continue
        calls = float(str(r["aws_calls"]).split()[0])
        cells = []
        for m in SIZES:
            ms = billed_ms(r["cpu_ms"], calls, m, args.aws_ms, args.runtime_ms)
            cells.append(f"{ms} / {ms / 1000 * m / 1024 * GB_SECOND * 1e6:.3f}")
        rru, wru = r.get("dynamodb_rru") or 0, r.get("dynamodb_wru") or 0
        dynamo = (rru * RRU + wru * WRU) * 1e6
        print(f"| {r['function']} {r['event']} ({what}) | {r['cpu_ms']:.2f} | {calls:g} | " + " | ".join(cells)
              + f" | {rru:g} / {wru:g} → {dynamo:.3f} | {(HTTP_API_REQUEST + LAMBDA_REQUEST) * 1e6:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
