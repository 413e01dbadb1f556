#!/usr/bin/env bash
# Benchmark of FHIR bulk NDJSON import and export (issue 15), run by hand, never by the test suite.
#
#   bench/fhir_bulk.sh [PATIENTS]
#
# Writes a seeded synthetic export of PATIENTS (default 10,000) patients with `ketacare synth` under
# bench/out/ (kept between runs), then times with /usr/bin/time -v (wall time, peak RSS):
#   1. `ketacare screen` on the files (the reference: the same bytes, read by the screen's fast extractor);
#   2. `ketacare import --ndjson` of the files into a fresh SQLite database (what ketacare charts of them);
#   3. the same import again (every patient found unchanged: the idempotent path);
#   4. `ketacare export --ndjson` of the imported database;
#   5. `ketacare import --ndjson` of that export into a second fresh database (ketacare's own files).
# Patients/s is patients read over wall seconds. KETACARE_BIN=path runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."

patients="${1:-10000}"
out=bench/out
export_dir="$out/synth-$patients"
mkdir -p "$out"
if [[ ! -x /usr/bin/time ]]; then apt-get update -qq && apt-get install -y -qq time >/dev/null; fi
bin="${KETACARE_BIN:-target/release/ketacare}"
if [[ -z "${KETACARE_BIN:-}" ]]; then
  echo "== build (release)"
  CARGO_INCREMENTAL=0 cargo build --release -q -p ketacare
fi
if [[ ! -d "$export_dir" ]]; then
  echo "== synth $patients patients"
  "$bin" synth --patients "$patients" --seed 1 --out "$export_dir" >/dev/null
fi
echo "export: $(du -sm "$export_dir" | cut -f1) MB in $(ls "$export_dir"/*.ndjson | wc -l) files"

# Runs a command under /usr/bin/time -v; prints its last stderr lines, wall seconds and peak RSS.
measure() {
  local label="$1"
  shift
  local log="$out/fhir-bulk-$label.log"
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || true
  local wall rss
  wall=$(grep 'Elapsed (wall clock)' "$log" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' "$log" | awk '{print $NF}')
  grep -E 'patients (read|exported)|^screened|patients/s' "$log" | head -3 || true
  echo "$label: wall $wall, peak RSS $((rss / 1024)) MB"
}

first="$out/fhir-bulk-$patients.db"
second="$out/fhir-bulk-$patients-again.db"
rm -f "$first"* "$second"*
for db in "$first" "$second"; do
  "$bin" user add bench.nurse --role nurse --database "sqlite://$db" >/dev/null
done
rm -rf "$out/fhir-export-$patients"

echo "== 1. screen (reference)"
measure screen "$bin" screen "$export_dir" --out "$out/fhir-bulk-screen.csv"
echo "== 2. import --ndjson (synth files, fresh database)"
measure import "$bin" import --ndjson "$export_dir" --as bench.nurse --database "sqlite://$first"
echo "== 3. import --ndjson again (unchanged)"
measure reimport "$bin" import --ndjson "$export_dir" --as bench.nurse --database "sqlite://$first"
echo "== 4. export --ndjson"
measure export "$bin" export --ndjson "$out/fhir-export-$patients" --database "sqlite://$first"
echo "== 5. import --ndjson of ketacare's own export (fresh database)"
measure import-own "$bin" import --ndjson "$out/fhir-export-$patients" --as bench.nurse --database "sqlite://$second"
