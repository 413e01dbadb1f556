#!/usr/bin/env bash
# Throughput of `ketacare assess --batch` through the real binary, on one core, against a reference run
# in the same script on the same bytes: `python3 -m json.tool --compact`-style round trip of every line
# (parse + re-serialise), which is the least a JSON-in/JSON-out tool does per case.
#
# Usage: bench/assess.sh [CASES]   (default 100000 cases, made by cycling the vignette case files)
# PRODUCT.md target: 10,000 cases/s per core through the CLI in batch mode.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-100000}
out=bench/out
mkdir -p "$out"

cargo build --release --quiet -p ketacare
binary=target/release/ketacare

python3 - "$cases" "$out/cases.ndjson" <<'PY'
import json, sys, glob
count, path = int(sys.argv[1]), sys.argv[2]
vignettes = [json.load(open(p)) for p in sorted(glob.glob("vignettes/*.case.json"))]
with open(path, "w") as out:
    for index in range(count):
        case = dict(vignettes[index % len(vignettes)])
        case["patient"] = dict(case["patient"], id=f"B{index}")
        out.write(json.dumps(case, separators=(",", ":")) + "\n")
PY
bytes=$(stat -c %s "$out/cases.ndjson")

seconds() { local start end; start=$(date +%s.%N); "$@" > /dev/null; end=$(date +%s.%N); python3 -c "print($end - $start)"; }

# One core for both runs, so the figure is per core.
pin="taskset -c 0"
command -v taskset > /dev/null || pin=""

reference=$(seconds $pin python3 -c '
import json, sys
for line in sys.stdin:
    sys.stdout.write(json.dumps(json.loads(line), separators=(",", ":")) + "\n")
' < "$out/cases.ndjson")
ketacare=$(seconds $pin "$binary" assess --batch "$out/cases.ndjson")

python3 - "$cases" "$bytes" "$reference" "$ketacare" <<'PY'
import sys
cases, size, reference, ketacare = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(f"assess batch benchmark: {cases} cases, {size / 1e6:.1f} MB, one core")
print(f"  reference (python json round trip): {reference:7.2f} s  {cases / reference:10.0f} cases/s")
print(f"  ketacare assess --batch:            {ketacare:7.2f} s  {cases / ketacare:10.0f} cases/s per core")
print(f"  ratio ketacare / reference time:    {ketacare / reference:7.2f}")
print(f"  target 10,000 cases/s per core:     {'met' if cases / ketacare >= 10000 else 'NOT met'}")
PY
