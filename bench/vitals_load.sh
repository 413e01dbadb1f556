#!/usr/bin/env bash
# Durable vital-sign writes against PRODUCT.md's server-writes target (≥3,000 writes/s on 2 cores, p99 ≤ 20 ms):
# `ketacare demo` (release build) on SQLite and on a fresh PostgreSQL database, wrk (Debian: wrk) POSTing one
# vital-sign set per request to …/sessions/{id}/observations (each runs the alert engine and commits the
# observation, its alert changes and its audit event before the 201) at 1, 16 and 100 concurrent clients,
# each level on fresh sessions (SESSIONS of them, so a session holds tens of observations, as a real one
# does). The reference run in the same script is GET /healthz at the same concurrency: results are also given
# as a ratio to it, since the machine is shared and noisy.
# Usage: bench/vitals_load.sh [SECONDS_PER_RUN] [SESSIONS]   (defaults 5 and 200)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-5}"
sessions="${2:-200}"
bin=target/release/ketacare
cargo build --release -p ketacare --quiet   # a no-op when up to date
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
out=bench/out; mkdir -p "$out"
pg_server="${KETACARE_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
observation='{"at":"2026-11-28T13:20","systolic_mmhg":150,"diastolic_mmhg":85,"heart_rate_bpm":80,"spo2_percent":97,"respiratory_rate_per_min":14,"moaas":5,"cadss_total":2}'
printf '%s' "$observation" >"$out/observation.json"
# The planned dose comes from the prescriber's order signed below (the server refuses another).
session_facts='{"modality":"iv_racemic_ketamine","time_zone":"America/New_York","dose":{"planned_at":"2026-11-28T13:10"},"pre_dose":{"escort_arranged":true}}'

# Replaces a one-time password before the account may do anything else.
change_password() {
    local jar="$1" csrf="$2" old="$3" new="$4"
    curl -sf -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
        -d "{\"current_password\":\"$old\",\"new_password\":\"$new\"}" "$base/api/v1/session/password" >/dev/null
}

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

run_backend() {
    local name="$1" url="$2" port="$3"
    # Every wrk connection comes from 127.0.0.1, so the per-address connection cap (64) is lifted here.
    "$bin" demo --database "$url" --bind "127.0.0.1:$port" --max-connections-per-address 100000 >"$out/$name.vitals.server.out" 2>"$out/$name.vitals.server.err" &
    server=$!
    trap 'kill -TERM "$server" 2>/dev/null || true' EXIT   # no server left behind if a step fails
    base="http://127.0.0.1:$port"
    for _ in $(seq 200); do grep -q "serving on" "$out/$name.vitals.server.out" 2>/dev/null && break; sleep 0.1; done
    local password admin_csrf nurse_csrf token patient
    password=$(sed -n 's/.*one-time password: //p' "$out/$name.vitals.server.out")
    admin_csrf=$(curl -s -c "$out/admin.jar" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/session" | field csrf_token)
    change_password "$out/admin.jar" "$admin_csrf" "$password" "admin bench passphrase"
    curl -sf -b "$out/admin.jar" -H "X-CSRF-Token: $admin_csrf" -H 'Content-Type: application/json' \
        -d '{"username":"vitals","password":"vitals load password","role":"prescriber"}' "$base/api/v1/users" >/dev/null
    nurse_csrf=$(curl -s -c "$out/vitals.jar" -H 'Content-Type: application/json' \
        -d '{"username":"vitals","password":"vitals load password"}' "$base/api/v1/session" | field csrf_token)
    change_password "$out/vitals.jar" "$nurse_csrf" "vitals load password" "vitals load passphrase"
    token=$(curl -s -b "$out/vitals.jar" -H "X-CSRF-Token: $nurse_csrf" -H 'Content-Type: application/json' \
        -d '{"label":"vitals"}' "$base/api/v1/tokens" | field token)
    patient=$(curl -s -H "Authorization: Bearer $token" "$base/api/v1/patients?limit=1" | field patient_id)
    # Sessions give a prescriber's order (0.5 mg/kg on the chart's weight).
    curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"modality":"iv_racemic_ketamine"}' "$base/api/v1/patients/$patient/orders" >/dev/null
    for clients in 1 16 100; do
        local threads=2; [ "$clients" -lt 2 ] && threads=1
        local list="$out/$name.sessions.c$clients.txt"; : >"$list"
        for _ in $(seq "$sessions"); do
            local session_id
            session_id=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
                -d "$session_facts" "$base/api/v1/patients/$patient/sessions" | field session_id)
            echo "/api/v1/patients/$patient/sessions/$session_id" >>"$list"
        done
        local writes reference
        writes=$(wrk -t "$threads" -c "$clients" -d "${seconds}s" -s bench/vitals_load.lua "$base" -- \
            observe "$list" "$token" "$out/observation.json" "$threads" | grep '^RESULT')
        reference=$(wrk -t "$threads" -c "$clients" -d "${seconds}s" -s bench/vitals_load.lua "$base" -- healthz | grep '^RESULT')
        local rate p50 p99 bad reference_rate
        rate=$(sed 's/.*per_second=\([0-9.]*\).*/\1/' <<<"$writes")
        p50=$(sed 's/.*p50_ms=\([0-9.]*\).*/\1/' <<<"$writes")
        p99=$(sed 's/.*p99_ms=\([0-9.]*\).*/\1/' <<<"$writes")
        bad=$(sed 's/.*non_2xx=\([0-9]*\) socket_errors=\([0-9]*\).*/\1+\2/' <<<"$writes")
        reference_rate=$(sed 's/.*per_second=\([0-9.]*\).*/\1/' <<<"$reference")
        printf '%-8s c=%-3s observations %8s/s  p50 %6s ms  p99 %6s ms  errors %-5s | healthz %8s/s  ratio %s\n' \
            "$name" "$clients" "$rate" "$p50" "$p99" "$bad" "$reference_rate" \
            "$(awk -v a="$rate" -v b="$reference_rate" 'BEGIN { printf "%.3f", a / b }')"
    done
    kill -TERM "$server"; wait "$server" || true
    "$bin" audit verify --database "$url"
}

rm -f "$out"/vitals.db*
run_backend sqlite "sqlite://$out/vitals.db" 18290
echo "sqlite: $(sqlite3 "$out/vitals.db" 'SELECT COUNT(*) FROM session_observations') observations stored"
psql "$pg_server/postgres" -qc "DROP DATABASE IF EXISTS ketacare_bench" -qc "CREATE DATABASE ketacare_bench"
run_backend postgres "$pg_server/ketacare_bench" 18291
echo "postgres: $(psql "$pg_server/ketacare_bench" -tAc 'SELECT COUNT(*) FROM session_observations') observations stored"
