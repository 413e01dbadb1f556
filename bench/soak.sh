#!/usr/bin/env bash
# A soak of the clinic server (issue 12): `ketacare demo` (release build) on a fresh database, CLIENTS concurrent
# clients (wrk, Debian: wrk; bench/soak.lua) for MINUTES one-minute rounds of mixed traffic over the real API:
# patient lists and patient reads, blood pressures charted (each re-evaluates the chart), vital-sign observations in
# open sessions (each runs the alert engine) and posted assessments, every write with an Idempotency-Key. Each
# minute gets fresh sessions (SESSIONS_PER_MINUTE, so a session holds tens of observations, as a real one does) and
# new patients (PATIENTS_PER_MINUTE), whose charts that minute's chart writes and assessments go to, as a clinic's
# new patients are charted: a patient's chart grows for a minute, not for the whole run (a chart write reads and
# evaluates the patient's whole chart, which is bounded in a real clinic); reads go to every patient so far. Printed
# per minute: requests, requests/s, p50 and p99, refusals, the server's RSS (VmRSS of /proc/PID/status), the
# database's size, the load average, and the rate of GET /healthz in 5 s at the same concurrency right after the
# minute (a reference: the machine may be shared, so throughput is also given as a ratio to it). At the end: the
# ratio of the last minute's throughput to the first's (raw and against the reference), RSS growth after the warm-up
# (minute 2 to the last), the database size and its largest tables, a check that every write a client got a 2xx for
# is stored (each by its id, from the answer's Location), and `ketacare audit verify`. Targets (issue 12): last
# minute >= 90% of the first, RSS growth <= 10%. Loopback only (ports 18600 and 18601); the database is the script's
# own (a file under bench/out, or a PostgreSQL database made and dropped here) and the server is stopped on any
# exit.
# Usage: bench/soak.sh [--postgres] [MINUTES] [CLIENTS]   (defaults 30 and 50; also SOAK_MINUTES, SOAK_CLIENTS,
#        SESSIONS_PER_MINUTE (default 200), PATIENTS_PER_MINUTE (default 50); PostgreSQL at
#        KETACARE_BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=sqlite
if [ "${1:-}" = "--postgres" ]; then backend=postgres; shift; fi
minutes="${1:-${SOAK_MINUTES:-30}}"
clients="${2:-${SOAK_CLIENTS:-50}}"
sessions_per_minute="${SESSIONS_PER_MINUTE:-200}"
patients_per_minute="${PATIENTS_PER_MINUTE:-50}"
bin="${KETACARE_BIN:-target/release/ketacare}"   # another build (a debug one) only to try the script out
[ -n "${KETACARE_BIN:-}" ] || cargo build --release -p ketacare --quiet   # a no-op when up to date
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
out=bench/out/soak-$backend; rm -rf "$out"; mkdir -p "$out"
pg_server="${KETACARE_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
pg_database="ketacare_soak_$$"
printf '%s' '{"at":"2026-11-28T13:20","systolic_mmhg":150,"diastolic_mmhg":85,"heart_rate_bpm":80,"spo2_percent":97,"respiratory_rate_per_min":14,"moaas":5,"cadss_total":2}' >"$out/observation.json"
printf '%s' '{"measured_on":"2026-11-01","systolic":128,"diastolic":82}' >"$out/reading.json"
# The planned dose comes from the prescriber's order signed below (the server refuses another).
session_facts='{"modality":"iv_racemic_ketamine","time_zone":"America/New_York","dose":{"planned_at":"2026-11-28T13:10"},"pre_dose":{"escort_arranged":true}}'

if [ "$backend" = sqlite ]; then
    url="sqlite://$out/soak.db"; port=18600
    sql() { sqlite3 "$out/soak.db" "$1"; }
    database_bytes() { cat "$out"/soak.db* 2>/dev/null | wc -c; }
else
    url="$pg_server/$pg_database"; port=18601
    psql "$pg_server/postgres" -qc "CREATE DATABASE $pg_database"
    sql() { psql "$url" -tAqc "$1"; }
    database_bytes() { sql "SELECT pg_database_size(current_database())"; }
fi
base="http://127.0.0.1:$port"
server=""
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    [ "$backend" = postgres ] && psql "$pg_server/postgres" -qc "DROP DATABASE IF EXISTS $pg_database" || true
}
trap cleanup EXIT   # no server or database left behind if a step fails

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
value() { sed "s/.*[ ]$1=\([0-9.]*\).*/\1/" <<<" $2"; }
mebibytes() { awk -v bytes="$1" 'BEGIN { printf "%.1f", bytes / 1048576 }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$server/status"; }

# Replaces a one-time password before the account may do anything else.
change_password() {
    local jar="$1" csrf="$2" old="$3" new="$4"
    curl -sf -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
        -d "{\"current_password\":\"$old\",\"new_password\":\"$new\"}" "$base/api/v1/session/password" >/dev/null
}

# Every wrk connection comes from 127.0.0.1, so the per-address connection cap (64) is lifted here.
"$bin" demo --database "$url" --bind "127.0.0.1:$port" --max-connections-per-address 100000 >"$out/server.out" 2>"$out/server.err" &
server=$!
for _ in $(seq 300); do grep -q "serving on" "$out/server.out" 2>/dev/null && break; sleep 0.1; done
password=$(sed -n 's/.*one-time password: //p' "$out/server.out")
admin_csrf=$(curl -s -c "$out/admin.jar" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/session" | field csrf_token)
change_password "$out/admin.jar" "$admin_csrf" "$password" "admin soak passphrase"
curl -sf -b "$out/admin.jar" -H "X-CSRF-Token: $admin_csrf" -H 'Content-Type: application/json' \
    -d '{"username":"soak","password":"soak load password","role":"prescriber"}' "$base/api/v1/users" >/dev/null
soak_csrf=$(curl -s -c "$out/soak.jar" -H 'Content-Type: application/json' \
    -d '{"username":"soak","password":"soak load password"}' "$base/api/v1/session" | field csrf_token)
change_password "$out/soak.jar" "$soak_csrf" "soak load password" "soak load passphrase"
token=$(curl -s -b "$out/soak.jar" -H "X-CSRF-Token: $soak_csrf" -H 'Content-Type: application/json' \
    -d '{"label":"soak"}' "$base/api/v1/tokens" | field token)
curl -sf -H "Authorization: Bearer $token" "$base/api/v1/patients?limit=100" | grep -o '"patient_id":"[0-9a-f]*"' |
    field patient_id | sort -u >"$out/patients.txt"
session_patient=$(head -1 "$out/patients.txt")
# Sessions need a prescriber's order (0.5 mg/kg on the chart's weight).
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"modality":"iv_racemic_ketamine"}' "$base/api/v1/patients/$session_patient/orders" >/dev/null
echo "soak on $backend: $minutes minutes, $clients clients, $(wc -l <"$out/patients.txt") patients," \
    "$sessions_per_minute new sessions and $patients_per_minute new patients a minute; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %9s %9s %8s %8s %8s %9s %9s %6s %9s %6s\n' minute requests per_s p50_ms p99_ms refused rss_mib db_mib load healthz ratio
: >"$out/minutes.txt"
for minute in $(seq "$minutes"); do
    sessions="$out/sessions.txt"; : >"$sessions"
    charted="$out/charted.txt"; : >"$charted"
    for number in $(seq "$patients_per_minute"); do
        patient_id=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            -d "{\"given_name\":\"Soak\",\"family_name\":\"Minute $minute number $number\",\"birth_date\":\"1980-03-0$((number % 9 + 1))\",\"sex_at_birth\":\"female\"}" \
            "$base/api/v1/patients" | field patient_id)
        [ -n "$patient_id" ] && echo "$patient_id" | tee -a "$out/patients.txt" >>"$charted"
    done
    for _ in $(seq "$sessions_per_minute"); do
        session_id=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
            -d "$session_facts" "$base/api/v1/patients/$session_patient/sessions" | field session_id)
        [ -n "$session_id" ] && echo "/api/v1/patients/$session_patient/sessions/$session_id" >>"$sessions"
    done
    threads=2; [ "$clients" -lt 2 ] && threads=1
    result=$(wrk -t "$threads" -c "$clients" -d 60s --timeout 30s -s bench/soak.lua "$base" -- \
        "$token" "$out/patients.txt" "$charted" "$sessions" "$out/observation.json" "$out/reading.json" \
        vignettes/V1.case.json "$minute" "$out/acknowledged.$minute" | grep '^RESULT')
    rss=$(rss_kib); bytes=$(database_bytes)
    reference=$(wrk -t "$threads" -c "$clients" -d 5s -s bench/vitals_load.lua "$base" -- healthz | grep '^RESULT')
    ratio=$(awk -v a="$(value per_second "$result")" -v b="$(value per_second "$reference")" 'BEGIN { printf "%.4f", a / b }')
    echo "$minute $result rss_kib=$rss database_bytes=$bytes healthz_per_second=$(value per_second "$reference") ratio=$ratio" \
        >>"$out/minutes.txt"
    printf '%-6s %9s %9s %8s %8s %8s %9s %9s %6s %9s %6s\n' "$minute" "$(value requests "$result")" "$(value per_second "$result")" \
        "$(value p50_ms "$result")" "$(value p99_ms "$result")" \
        "$(($(value not_2xx "$result") + $(value socket_errors "$result")))" \
        "$(awk -v kib="$rss" 'BEGIN { printf "%.1f", kib / 1024 }')" "$(mebibytes "$bytes")" "$(cut -d' ' -f1 /proc/loadavg)" \
        "$(value per_second "$reference")" "$ratio"
done
kill -TERM "$server"; wait "$server" || true; server=""

first=$(head -1 "$out/minutes.txt"); last=$(tail -1 "$out/minutes.txt")
warm=$(sed -n 2p "$out/minutes.txt"); [ -n "$warm" ] || warm=$first
throughput_ratio=$(awk -v a="$(value per_second "$last")" -v b="$(value per_second "$first")" 'BEGIN { printf "%.3f", a / b }')
reference_ratio=$(awk -v a="$(value ratio "$last")" -v b="$(value ratio "$first")" 'BEGIN { printf "%.3f", a / b }')
rss_growth=$(awk -v a="$(value rss_kib "$last")" -v b="$(value rss_kib "$warm")" 'BEGIN { printf "%.1f", (a / b - 1) * 100 }')
echo "last/first minute throughput: $throughput_ratio, against /healthz $reference_ratio (target >= 0.90); RSS growth after warm-up (minute 2 to" \
    "$minutes): $rss_growth% (target <= 10%); database $(mebibytes "$(database_bytes)") MiB"
for table in audit_events assessments chart_records session_observations session_alert_changes session_alert_log \
    treatment_sessions idempotency_keys login_failures; do
    printf '  %-22s %9s rows\n' "$table" "$(sql "SELECT COUNT(*) FROM $table")"
done
if [ "$backend" = postgres ]; then
    sql "SELECT '  ' || relname || ' ' || pg_size_pretty(pg_total_relation_size(relid)) FROM pg_statio_user_tables
         ORDER BY pg_total_relation_size(relid) DESC LIMIT 6"
else
    sql "SELECT '  ' || name || ' ' || (SUM(pgsize) / 1048576) || ' MiB' FROM dbstat GROUP BY name
         ORDER BY SUM(pgsize) DESC LIMIT 6" 2>/dev/null || true
fi

# Every acknowledged write is stored: each 2xx answer's id (from its Location) is looked up in its table.
cat "$out"/acknowledged.* >"$out/acknowledged.txt" 2>/dev/null || : >"$out/acknowledged.txt"
acknowledged=$(wc -l <"$out/acknowledged.txt")
reported=$(awk '{ for (i = 2; i <= NF; i++) { split($i, pair, "="); if (pair[1] == "observations" || pair[1] == "chart_writes" || pair[1] == "assessments") total += pair[2] } } END { print total + 0 }' "$out/minutes.txt")
ack_table="CREATE TEMPORARY TABLE acknowledged (kind TEXT, patient_id TEXT, item TEXT)"
lookup="SELECT COUNT(*) FROM acknowledged a WHERE NOT (
    (a.kind = 'observation' AND EXISTS (SELECT 1 FROM session_observations o WHERE o.patient_id = a.patient_id
        AND o.session_id = split_part_session AND CAST(o.sequence AS TEXT) = split_part_sequence))
    OR (a.kind = 'chart' AND EXISTS (SELECT 1 FROM chart_records c WHERE c.patient_id = a.patient_id AND c.record_id = a.item))
    OR (a.kind = 'assessment' AND EXISTS (SELECT 1 FROM assessments s WHERE s.patient_id = a.patient_id AND s.assessment_id = a.item)))"
if [ "$backend" = sqlite ]; then
    session_part="substr(a.item, 1, instr(a.item, '#') - 1)"; sequence_part="substr(a.item, instr(a.item, '#') + 1)"
    lookup=${lookup//split_part_session/$session_part}; lookup=${lookup//split_part_sequence/$sequence_part}
    missing=$(sqlite3 "$out/soak.db" "$ack_table;" ".mode tabs" ".import $out/acknowledged.txt acknowledged" "$lookup;")
else
    session_part="split_part(a.item, '#', 1)"; sequence_part="split_part(a.item, '#', 2)"
    lookup=${lookup//split_part_session/$session_part}; lookup=${lookup//split_part_sequence/$sequence_part}
    missing=$(psql "$url" -tAq -c "$ack_table" -c "\\copy acknowledged FROM '$out/acknowledged.txt'" -c "$lookup")
fi
echo "acknowledged writes: $acknowledged ($reported counted by wrk); not found in the database: $missing"
"$bin" audit verify --database "$url"
[ "$missing" = 0 ] && [ "$acknowledged" = "$reported" ]
