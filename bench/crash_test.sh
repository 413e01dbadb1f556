#!/usr/bin/env bash
# Crash test: a write storm over HTTP (parallel writers posting assessments and vital signs, each with
# its own Idempotency-Key), the server killed with SIGKILL at a random moment, many cycles; then every write
# the server acknowledged (201) must be readable, the audit chain must verify and (SQLite) the
# database must pass its integrity check.
# Usage: bench/crash_test.sh [CYCLES] [WRITERS] [sqlite|postgres]     (defaults: 10 8 sqlite)
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-10}" writers="${2:-8}" backend="${3:-sqlite}"
bin=target/release/ketacare
cargo build --release -p ketacare --quiet   # a no-op when up to date
out=bench/out/crash; rm -rf "$out"; mkdir -p "$out"
port=18290 base="http://127.0.0.1:18290"
pg_server="${KETACARE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
if [ "$backend" = postgres ]; then
    schema="ketacare_crash_$$"
    psql "$pg_server" -qc "CREATE SCHEMA $schema"
    trap 'psql "$pg_server" -qc "DROP SCHEMA $schema CASCADE" 2>/dev/null' EXIT
    url="$pg_server?options[search_path]=$schema"
else
    url="sqlite://$out/crash.db"
fi

# Replaces a one-time password (generated or chosen by an admin) before the account may do anything else.
change_password() {
    local jar="$1" csrf="$2" old="$3" new="$4"
    curl -sf -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
        -d "{\"current_password\":\"$old\",\"new_password\":\"$new\"}" "$base/api/v1/session/password" >/dev/null
}

wait_serving() {
    for _ in $(seq 200); do curl -sf "$base/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "server did not come up" >&2; exit 1
}

# Seed: the demo's admin makes a prescriber and a bearer token that outlive restarts.
"$bin" demo --database "$url" --bind "127.0.0.1:$port" >"$out/demo.out" 2>/dev/null &
server=$!
wait_serving
password=$(sed -n 's/.*one-time password: //p' "$out/demo.out")
csrf=$(curl -s -c "$out/jar" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/session" | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/')
change_password "$out/jar" "$csrf" "$password" "admin crash passphrase"
curl -s -b "$out/jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d '{"username":"storm","password":"storm test password","role":"prescriber"}' "$base/api/v1/users" >/dev/null
csrf=$(curl -s -c "$out/jar" -H 'Content-Type: application/json' \
    -d '{"username":"storm","password":"storm test password"}' "$base/api/v1/session" | sed 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/')
change_password "$out/jar" "$csrf" "storm test password" "storm test passphrase"
token=$(curl -s -b "$out/jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
    -d '{"label":"storm"}' "$base/api/v1/tokens" | sed 's/.*"token":"\(kc_[0-9a-f]*\)".*/\1/')
patient=$(curl -s -H "Authorization: Bearer $token" "$base/api/v1/patients?limit=1" | sed 's/.*"patient_id":"\([0-9a-f]*\)".*/\1/')
# Sessions give a prescriber's order (storm is a prescriber; 0.5 mg/kg on the chart's weight).
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"modality":"iv_racemic_ketamine"}' "$base/api/v1/patients/$patient/orders" >/dev/null
kill -TERM "$server"; wait "$server" || true

# Odd writers post vital signs (each to a session of its own, started per cycle); even writers post
# assessments. Acknowledged observations are counted per session and checked against what is stored.
vitals_writer() {
    local id="$1" cycle="$2" n=0 key code session minute
    session=$(curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"modality":"iv_racemic_ketamine","time_zone":"America/New_York","dose":{"planned_at":"2026-11-20T08:00"}}' \
        "$base/api/v1/patients/$patient/sessions" | sed -n 's/.*"session_id":"\([0-9a-f]*\)".*/\1/p')
    [ -n "$session" ] || return 0
    while :; do
        n=$((n + 1)); key="v$id-c$cycle-$n"
        minute=$(printf '2026-11-20T%02d:%02d' $(((8 * 60 + n) / 60 % 24)) $(((8 * 60 + n) % 60)))
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
            -H "Idempotency-Key: $key" -H 'Content-Type: application/json' \
            -d "{\"at\":\"$minute\",\"systolic_mmhg\":$((120 + n % 50)),\"diastolic_mmhg\":80,\"heart_rate_bpm\":72}" \
            "$base/api/v1/patients/$patient/sessions/$session/observations" || true)
        [ "$code" = 201 ] && echo "$session" >>"$out/vitals.$id"
        [ "$n" -lt 900 ] || return 0   # stay within one day of clinic time
    done
}

writer() {
    local id="$1" cycle="$2" n=0 key code
    if [ $((id % 2)) = 1 ]; then vitals_writer "$id" "$cycle"; return; fi
    while :; do
        n=$((n + 1)); key="w$id-c$cycle-$n"
        code=$(curl -s -o "$out/resp.$id" -w '%{http_code}' -H "Authorization: Bearer $token" \
            -H "Idempotency-Key: $key" -H 'Content-Type: application/json' \
            --data-binary @vignettes/V1.case.json "$base/api/v1/patients/$patient/assessments" || true)
        if [ "$code" = 201 ]; then
            echo "$key $(sed 's/.*"assessment_id":"\([0-9a-f]*\)".*/\1/' "$out/resp.$id")" >>"$out/acks.$id"
        fi
    done
}

for cycle in $(seq "$cycles"); do
    "$bin" serve --database "$url" --bind "127.0.0.1:$port" >/dev/null 2>&1 &
    server=$!
    wait_serving
    pids=()
    for id in $(seq "$writers"); do writer "$id" "$cycle" & pids+=($!); done
    sleep "$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.2f", 0.5 + rand() * 2.5 }')"
    kill -KILL "$server"; wait "$server" 2>/dev/null || true
    kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true
done

"$bin" serve --database "$url" --bind "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
wait_serving
cat "$out"/acks.* >"$out/acks" 2>/dev/null || : >"$out/acks"
acknowledged=$(wc -l <"$out/acks") missing=0
while read -r key assessment; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
        "$base/api/v1/patients/$patient/assessments/$assessment")
    [ "$code" = 200 ] || { missing=$((missing + 1)); echo "missing: $key $assessment ($code)"; }
done <"$out/acks"
cat "$out"/vitals.* >"$out/vitals" 2>/dev/null || : >"$out/vitals"
observations=$(wc -l <"$out/vitals")
acknowledged=$((acknowledged + observations))
while read -r count session; do
    stored=$(curl -s -H "Authorization: Bearer $token" "$base/api/v1/patients/$patient/sessions" \
        | tr '{' '\n' | grep "\"session_id\":\"$session\"" | sed -n 's/.*"observation_count":\([0-9]*\).*/\1/p')
    if [ "${stored:-0}" -lt "$count" ]; then
        missing=$((missing + count - ${stored:-0})); echo "missing: $((count - ${stored:-0})) observations of session $session"
    fi
done < <(sort "$out/vitals" | uniq -c)
kill -TERM "$server"; wait "$server" || true
"$bin" audit verify --database "$url"
if [ "$backend" = sqlite ]; then
    echo "integrity_check: $(sqlite3 "$out/crash.db" 'PRAGMA integrity_check')"
fi
echo "$backend: $cycles kill -9 cycles, $writers writers, $acknowledged acknowledged writes ($observations of them vital signs), $missing missing"
[ "$missing" = 0 ]
