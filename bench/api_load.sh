#!/usr/bin/env bash
# A rough load measurement of the clinic server with ApacheBench (Debian: apache2-utils): durable
# writes (POST an assessment: engine + store + audit in one transaction) and reads (GET a patient:
# read + audit append) at 1, 16 and 100 concurrent clients, on SQLite and on PostgreSQL.
# Not the issue's final benchmark (vital-sign writes with batched commits come with sessions);
# a baseline to measure that work against. Usage: bench/api_load.sh [REQUESTS]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-2000}"
bin=target/release/ketacare
cargo build --release -p ketacare --quiet   # a no-op when up to date
command -v ab >/dev/null || { echo "needs ab: apt-get install apache2-utils" >&2; exit 1; }
out=bench/out; mkdir -p "$out"
pg_server="${KETACARE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Replaces a one-time password (generated or chosen by an admin) before the account may do anything else.
change_password() {
    local jar="$1" csrf="$2" old="$3" new="$4"
    curl -sf -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
        -d "{\"current_password\":\"$old\",\"new_password\":\"$new\"}" "$base/api/v1/session/password" >/dev/null
}

run_backend() {
    local name="$1" url="$2" port="$3"
    # Every wrk connection comes from 127.0.0.1, so the per-address connection cap (64) is lifted here.
    "$bin" demo --database "$url" --bind "127.0.0.1:$port" --max-connections-per-address 100000 >"$out/$name.server.out" 2>"$out/$name.server.err" &
    local server=$!
    for _ in $(seq 100); do grep -q "serving on" "$out/$name.server.out" 2>/dev/null && break; sleep 0.1; done
    local password base="http://127.0.0.1:$port"
    password=$(sed -n 's/.*one-time password: //p' "$out/$name.server.out")
    # demo.prescriber signed the seed; make a prescriber for the load and a bearer token for it.
    local admin_csrf prescriber_csrf token patient
    admin_csrf=$(curl -s -c "$out/admin.jar" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/session" | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/')
    change_password "$out/admin.jar" "$admin_csrf" "$password" "admin bench passphrase"
    curl -s -b "$out/admin.jar" -H "X-CSRF-Token: $admin_csrf" -H 'Content-Type: application/json' \
        -d '{"username":"load","password":"load test password","role":"prescriber"}' "$base/api/v1/users" >/dev/null
    prescriber_csrf=$(curl -s -c "$out/load.jar" -H 'Content-Type: application/json' \
        -d '{"username":"load","password":"load test password"}' "$base/api/v1/session" | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/')
    change_password "$out/load.jar" "$prescriber_csrf" "load test password" "load test passphrase"
    token=$(curl -s -b "$out/load.jar" -H "X-CSRF-Token: $prescriber_csrf" -H 'Content-Type: application/json' \
        -d '{"label":"load"}' "$base/api/v1/tokens" | sed 's/.*"token":"\(kc_[0-9a-f]*\)".*/\1/')
    patient=$(curl -s -H "Authorization: Bearer $token" "$base/api/v1/patients?limit=1" | sed 's/.*"patient_id":"\([0-9a-f]*\)".*/\1/')
    for clients in 1 16 100; do
        local n=$requests; [ "$clients" -gt "$n" ] && n=$clients
        for kind in write read; do
            local log="$out/$name.$kind.c$clients.txt"
            if [ "$kind" = write ]; then
                ab -q -k -n "$n" -c "$clients" -p vignettes/V1.case.json -T application/json \
                    -H "Authorization: Bearer $token" "$base/api/v1/patients/$patient/assessments" >"$log" 2>&1 || true
            else
                ab -q -k -n "$n" -c "$clients" -H "Authorization: Bearer $token" "$base/api/v1/patients/$patient" >"$log" 2>&1 || true
            fi
            printf '%-8s %-5s c=%-3s %8s req/s  p50 %5s ms  p99 %5s ms  non-2xx %s\n' "$name" "$kind" "$clients" \
                "$(awk '/Requests per second/ {print $4}' "$log")" "$(awk '$1=="50%" {print $2}' "$log")" \
                "$(awk '$1=="99%" {print $2}' "$log")" "$(awk '/Non-2xx/ {print $3}' "$log" | grep . || echo 0)"
        done
    done
    kill -TERM "$server"; wait "$server" || true
    "$bin" audit verify --database "$url"
}

rm -f "$out"/load.db*
run_backend sqlite "sqlite://$out/load.db" 18280
schema="ketacare_bench_$$"
psql "$pg_server" -qc "CREATE SCHEMA $schema"
run_backend postgres "$pg_server?options[search_path]=$schema" 18281
psql "$pg_server" -qc "DROP SCHEMA $schema CASCADE"
