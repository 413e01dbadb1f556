#!/usr/bin/env bash
# Benchmark of `ketacare screen` (PRODUCT.md screening targets), run by hand, never by the test suite.
#
#   bench/screen.sh [SIZE_GB] [--parsers] [--damaged-only]
#
# Builds release, writes a seeded synthetic export of about SIZE_GB (default 1) GB of NDJSON under
# bench/out/, then reports for 1 and 2 threads: screen MB/s and patients/s; the raw parse ceiling (every
# line parsed with serde_json, `--parse-only`) and the ratio; DuckDB running the label definition on the
# same files (bench/screen_duckdb.py) and the ratio; peak memory (/usr/bin/time); and agreement of the
# screen and of DuckDB with the generator's truth.csv. Each timing is the best of 5 runs (DuckDB: 2) on a warm page cache.
# --parsers also builds and runs bench/parser-choice (serde_json vs sonic-rs vs simd-json).
# Last, a damaged export (always; alone with --damaged-only): the export as one plain file, the same with
# 1,237 lines cut in half spread through it, and the same with one 1 GiB line in the middle, screened at
# 2 threads: reading damage must cost about what reading the bytes costs (numbering malformed lines once
# rescanned the file per chunk, and a long line was read again by every chunk it spans).
# KETACARE_BIN=path runs another build of ketacare (an earlier commit's, to compare).
set -euo pipefail
cd "$(dirname "$0")/.."

size_gb=1
run_parsers=no
damaged_only=no
for argument in "$@"; do
  case "$argument" in
    --parsers) run_parsers=yes ;;
    --damaged-only) damaged_only=yes ;;
    *) size_gb="$argument" ;;
  esac
done
# About 100 KB of NDJSON per synthetic patient (measured: 10,500 patients = 1.07 GB).
patients=$(python3 -c "print(int(float('$size_gb') * 10500))")
out=bench/out
export_dir="$out/export-$patients"
mkdir -p "$out"

if [[ ! -x /usr/bin/time ]]; then apt-get update -qq && apt-get install -y -qq time >/dev/null; fi
if [[ "$damaged_only" == no ]] && ! python3 -c "import duckdb" 2>/dev/null; then pip install -q duckdb; fi

echo "== build (release)"
cargo build --release -q -p ketacare
bin="${KETACARE_BIN:-target/release/ketacare}"

if [[ ! -f "$export_dir/truth.csv" ]]; then
  echo "== synth $patients patients into $export_dir"
  "$bin" synth --patients "$patients" --seed 1 --out "$export_dir"
fi
ndjson_bytes=$(cat "$export_dir"/*.ndjson | wc -c)
echo "export: $export_dir, $patients patients, $ndjson_bytes bytes of NDJSON"
cat "$export_dir"/*.ndjson > /dev/null # warm the page cache

# best_of N COMMAND...: prints "best_wall_seconds peak_rss_kb" over N runs.
best_of() {
  local runs="$1"; shift
  local best="" peak=0
  for _ in $(seq "$runs"); do
    local start end rss
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt"
    end=$(date +%s.%N)
    rss=$(tail -1 "$out/time.txt")
    local wall
    wall=$(python3 -c "print($end - $start)")
    if [[ -z "$best" ]] || python3 -c "import sys; sys.exit(0 if $wall < $best else 1)"; then best=$wall; fi
    (( rss > peak )) && peak=$rss
  done
  echo "$best $peak"
}

if [[ "$damaged_only" == no ]]; then
declare -A screen_s screen_kb parse_s duck_s duck_kb
for threads in 1 2; do
  echo "== threads $threads"
  read -r screen_s[$threads] screen_kb[$threads] < <(best_of 5 "$bin" screen "$export_dir" --as-of 2025-12-31 --threads "$threads" --quiet --out "$out/screen-$threads.csv")
  read -r parse_s[$threads] _ < <(best_of 5 "$bin" screen "$export_dir" --as-of 2025-12-31 --threads "$threads" --parse-only)
  read -r duck_s[$threads] duck_kb[$threads] < <(best_of 2 python3 bench/screen_duckdb.py "$export_dir" "$threads" "$out/duckdb-$threads.csv")
done

agreement() { # $1: a CSV whose first three columns are patient_id,status,trd_date
  python3 - "$export_dir/truth.csv" "$1" <<'PY'
import csv, sys
truth = {r[0]: tuple(r[:3]) for r in csv.reader(open(sys.argv[1]))}
got = {r[0]: tuple(r[:3]) for r in csv.reader(open(sys.argv[2]))}
agree = sum(1 for k, v in truth.items() if got.get(k) == v)
print(f"{agree - 1}/{len(truth) - 1}")
PY
}

python3 - "$ndjson_bytes" "$patients" "${screen_s[1]}" "${screen_s[2]}" "${parse_s[1]}" "${parse_s[2]}" \
  "${duck_s[1]}" "${duck_s[2]}" "${screen_kb[1]}" "${screen_kb[2]}" "${duck_kb[1]}" "${duck_kb[2]}" <<'PY'
import sys
b, p = int(sys.argv[1]), int(sys.argv[2])
s1, s2, r1, r2, d1, d2 = map(float, sys.argv[3:9])
m1, m2, dm1, dm2 = map(int, sys.argv[9:13])
mb = b / 1e6
print()
print(f"export: {mb:.0f} MB NDJSON, {p} patients")
print(f"{'':28}{'1 thread':>14}{'2 threads':>14}")
print(f"{'screen MB/s':28}{mb/s1:14.0f}{mb/s2:14.0f}")
print(f"{'screen patients/s':28}{p/s1:14.0f}{p/s2:14.0f}")
print(f"{'raw parse MB/s (ceiling)':28}{mb/r1:14.0f}{mb/r2:14.0f}")
print(f"{'screen / raw parse':28}{r1/s1:14.2f}{r2/s2:14.2f}")
print(f"{'DuckDB label MB/s':28}{mb/d1:14.0f}{mb/d2:14.0f}")
print(f"{'screen / DuckDB':28}{d1/s1:14.2f}{d2/s2:14.2f}")
print(f"{'screen peak RSS MB':28}{m1/1024:14.0f}{m2/1024:14.0f}")
print(f"{'DuckDB peak RSS MB':28}{dm1/1024:14.0f}{dm2/1024:14.0f}")
print(f"{'screen speed-up 1->2 threads':28}{s1/s2:14.2f}")
PY
echo "agreement with truth.csv: screen $(agreement "$out/screen-2.csv"), DuckDB $(agreement "$out/duckdb-2.csv")"

echo
echo "== gzip: the same export as *.ndjson.gz"
gz_dir="$out/export-$patients-gz"
if [[ ! -f "$gz_dir/truth.csv" ]]; then "$bin" synth --patients "$patients" --seed 1 --gzip --out "$gz_dir"; fi
gz_bytes=$(cat "$gz_dir"/*.ndjson.gz | wc -c)
for threads in 1 2; do
  read -r s kb < <(best_of 3 "$bin" screen "$gz_dir" --as-of 2025-12-31 --threads "$threads" --quiet --out "$out/screen-gz.csv")
  read -r d dkb < <(best_of 2 python3 bench/screen_duckdb.py "$gz_dir" "$threads" "$out/duckdb-gz.csv")
  python3 -c "print(f'gzip, {$threads} thread(s): screen {$ndjson_bytes/1e6/$s:.0f} MB/s of NDJSON ({$gz_bytes/1e6/$s:.0f} MB/s of .gz), peak {$kb/1024:.0f} MB; DuckDB {$ndjson_bytes/1e6/$d:.0f} MB/s, peak {$dkb/1024:.0f} MB; screen/DuckDB {$d/$s:.2f}')"
done

echo
echo "== memory follows patients, not bytes (2 threads)"
half=$((patients / 2))
for scale in 1 3; do
  mem_dir="$out/export-$half-scale$scale"
  if [[ ! -f "$mem_dir/truth.csv" ]]; then "$bin" synth --patients "$half" --seed 2 --unrelated-scale "$scale" --out "$mem_dir" 2>/dev/null; fi
  cat "$mem_dir"/*.ndjson > /dev/null
  read -r s kb < <(best_of 2 "$bin" screen "$mem_dir" --as-of 2025-12-31 --threads 2 --quiet --out "$out/screen-mem.csv")
  mb=$(cat "$mem_dir"/*.ndjson | wc -c)
  python3 -c "print(f'{$half} patients, {$mb/1e6:.0f} MB NDJSON: peak {$kb/1024:.0f} MB')"
done
for count in $((patients / 4)) $((patients * 2)); do
  mem_dir="$out/export-$count-scale0.1"
  if [[ ! -f "$mem_dir/truth.csv" ]]; then "$bin" synth --patients "$count" --seed 3 --unrelated-scale 0.1 --out "$mem_dir" 2>/dev/null; fi
  cat "$mem_dir"/*.ndjson > /dev/null
  read -r s kb < <(best_of 2 "$bin" screen "$mem_dir" --as-of 2025-12-31 --threads 2 --quiet --out "$out/screen-mem.csv")
  mb=$(cat "$mem_dir"/*.ndjson | wc -c)
  python3 -c "print(f'{$count} patients, {$mb/1e6:.0f} MB NDJSON: peak {$kb/1024:.0f} MB')"
done

fi # damaged_only

echo
echo "== damaged export, one plain file, 2 threads"
damaged="$out/damaged-$patients"
if [[ ! -f "$damaged/done" ]]; then
  rm -rf "$damaged"
  mkdir -p "$damaged/clean" "$damaged/malformed" "$damaged/long-line"
  cat "$export_dir"/*.ndjson > "$damaged/clean/export.ndjson"
  python3 - "$damaged" <<'PY'
import sys
root = sys.argv[1]
clean = f"{root}/clean/export.ndjson"
total = sum(1 for _ in open(clean, "rb"))
every = total // 1237
with open(clean, "rb") as source, open(f"{root}/malformed/export.ndjson", "wb") as malformed, \
        open(f"{root}/long-line/export.ndjson", "wb") as long_line:
    for number, line in enumerate(source, 1):
        malformed.write(line)
        long_line.write(line)
        if number % every == 0 and number // every <= 1237:
            malformed.write(line[: len(line) // 2] + b"\n")
        if number == total // 2:
            long_line.write(b'{"resourceType":"Encounter","note":"')
            piece = b"n" * (64 << 20)
            for _ in range(16):
                long_line.write(piece)
            long_line.write(b'"}\n')
PY
  touch "$damaged/done"
fi
# best_of_with_cpu N COMMAND...: prints "best_wall_seconds best_cpu_seconds peak_rss_kb" over N runs (CPU
# time, user + system, is steadier than wall time when other work shares the machine).
best_of_with_cpu() {
  local runs="$1"; shift
  local best="" best_cpu="" peak=0
  for _ in $(seq "$runs"); do
    local start end user system rss wall cpu
    start=$(date +%s.%N)
    /usr/bin/time -f "%U %S %M" -o "$out/time.txt" "$@" >/dev/null 2>"$out/stderr.txt"
    end=$(date +%s.%N)
    read -r user system rss < <(tail -1 "$out/time.txt")
    wall=$(python3 -c "print($end - $start)")
    cpu=$(python3 -c "print($user + $system)")
    if [[ -z "$best" ]] || python3 -c "import sys; sys.exit(0 if $wall < $best else 1)"; then best=$wall; fi
    if [[ -z "$best_cpu" ]] || python3 -c "import sys; sys.exit(0 if $cpu < $best_cpu else 1)"; then best_cpu=$cpu; fi
    (( rss > peak )) && peak=$rss
  done
  echo "$best $best_cpu $peak"
}
for case in clean malformed long-line; do
  cat "$damaged/$case/export.ndjson" > /dev/null
  read -r s cpu kb < <(best_of_with_cpu 3 "$bin" screen "$damaged/$case" --as-of 2025-12-31 --threads 2 --out "$out/screen-damaged.csv")
  skipped=$(grep -o '[0-9]* skipped as malformed' "$out/stderr.txt" | cut -d' ' -f1)
  [[ "$case" == clean ]] && clean_s=$s && clean_cpu=$cpu
  mb=$(stat -c %s "$damaged/$case/export.ndjson")
  python3 -c "print(f'{\"$case\":10} {$mb/1e6:6.0f} MB: wall {$s:6.2f} s ({$s/$clean_s:5.2f} x clean), CPU {$cpu:6.2f} s ({$cpu/$clean_cpu:5.2f} x clean), {${skipped:-0}} malformed, peak {$kb/1024:.0f} MB')"
done

if [[ "$run_parsers" == yes ]]; then
  echo "== parser choice (bench/parser-choice)"
  CARGO_TARGET_DIR=bench/parser-choice/target cargo build -q --release --manifest-path bench/parser-choice/Cargo.toml
  (cd "$export_dir" && ../../../bench/parser-choice/target/release/parser-choice \
    MedicationDispense.*.ndjson MedicationRequest.*.ndjson MedicationStatement.*.ndjson Condition.*.ndjson \
    --all ./*.ndjson)
fi
