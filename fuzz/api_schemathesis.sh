#!/usr/bin/env bash
# The JSON API fuzzed from its own OpenAPI document (schemathesis, from PyPI): `ketacare demo` on a
# temporary SQLite database, then schemathesis as each staff role with a bearer token, for a bounded time,
# checking that no request gets a server error (5xx), that every answer's status, content type and body
# are what the document says for its route, and that a method a route does not take gets 405 with Allow. Prints the counts; exits non-zero on a failure
# (schemathesis prints the request that caused it, as a curl command).
#
#   fuzz/api_schemathesis.sh [SECONDS_PER_ROLE]     (default 40)
#
# Needs the `ketacare` binary (KETACARE_BIN, default target/debug/ketacare), curl, python3 and
# schemathesis (`pip install schemathesis`) for the python3 on the PATH or KETACARE_SCHEMATHESIS_PYTHON.
# Path ids are the demo's real ones (its patient with a session in progress, that session, its plan and
# order), so requests reach the use cases' logic instead of a 404.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds_per_role="${1:-40}"
# The Python with schemathesis (`.ci/run` makes a throwaway virtual environment and names its python here).
python="${KETACARE_SCHEMATHESIS_PYTHON:-python3}"
binary="${KETACARE_BIN:-target/debug/ketacare}"
scratch=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT

# Logins and one-time passwords are throttled per address: this run's many logins come from one.
"$binary" demo --database "sqlite://$scratch/api.db" --bind 127.0.0.1:0 --time-zone UTC \
    >"$scratch/demo.out" 2>"$scratch/demo.err" &
server_pid=$!
for _ in $(seq 120); do
    grep -q "ketacare is serving on" "$scratch/demo.out" 2>/dev/null && break
    sleep 0.5
done
base=$(sed -n 's/^ketacare is serving on \(http[^ ]*\).*/\1/p' "$scratch/demo.out")
admin_password=$(sed -n 's/.*one-time password: \([^ ]*\)$/\1/p' "$scratch/demo.out")
[ -n "$base" ] && [ -n "$admin_password" ] || { cat "$scratch/demo.out" "$scratch/demo.err"; exit 1; }

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }

# Signs in with a one-time password, chooses a new one, and prints a bearer token of the account.
token_for() {
    local username=$1 one_time=$2 new_password="schemathesis passphrase for $1" cookie_jar="$scratch/$1.cookies"
    local csrf
    csrf=$(curl -sf -c "$cookie_jar" -H 'content-type: application/json' \
        -d "{\"username\":\"$username\",\"password\":\"$one_time\"}" "$base/api/v1/session" | json_field csrf_token)
    curl -sf -b "$cookie_jar" -c "$cookie_jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" \
        -d "{\"current_password\":\"$one_time\",\"new_password\":\"$new_password\"}" \
        "$base/api/v1/session/password" >/dev/null
    csrf=$(curl -sf -c "$cookie_jar" -H 'content-type: application/json' \
        -d "{\"username\":\"$username\",\"password\":\"$new_password\"}" "$base/api/v1/session" | json_field csrf_token)
    curl -sf -b "$cookie_jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" \
        -d '{"label":"schemathesis"}' "$base/api/v1/tokens" | json_field token
}

admin_token=$(token_for admin "$admin_password")
# The demo's nurse and prescriber get one-time passwords from the admin, as a clinic's would.
one_time_of() {
    local user_id
    user_id=$(curl -sf -H "authorization: Bearer $admin_token" "$base/api/v1/users" |
        python3 -c "import json,sys; print(next(u['user_id'] for u in json.load(sys.stdin)['users'] if u['username']==sys.argv[1]))" "$1")
    curl -sf -X POST -H "authorization: Bearer $admin_token" "$base/api/v1/users/$user_id/password-reset" |
        json_field one_time_password
}
nurse_token=$(token_for demo.nurse "$(one_time_of demo.nurse)")
prescriber_token=$(token_for demo.prescriber "$(one_time_of demo.prescriber)")

# Real ids of the demo's data, so generated requests reach their use case's logic rather than a 404: the
# patient whose session is in progress with open alerts (that session, its plan and dose order), from the
# worklist.
ids=$(curl -sf -H "authorization: Bearer $prescriber_token" "$base/api/v1/worklist" | python3 -c '
import json, sys
worklist = json.load(sys.stdin)
alert = worklist["open_alerts"][0]
print(alert["patient"]["patient_id"], alert["session_id"])')
read -r patient_id session_id <<<"$ids"
plan_id=$(curl -sf -H "authorization: Bearer $prescriber_token" "$base/api/v1/patients/$patient_id/plans" |
    python3 -c 'import json,sys; plans=json.load(sys.stdin)["plans"]; print(plans[0]["plan_id"] if plans else "none")')
order_id=$(curl -sf -H "authorization: Bearer $prescriber_token" "$base/api/v1/patients/$patient_id/orders" |
    python3 -c 'import json,sys; orders=json.load(sys.stdin)["orders"]; print(orders[0]["order_id"] if orders else "none")')
cat >"$scratch/schemathesis.toml" <<TOML
[parameters]
"path.patient_id" = "$patient_id"
"path.session_id" = "$session_id"
"path.plan_id" = "$plan_id"
"path.order_id" = "$order_id"
TOML

status=0
for role in prescriber nurse admin; do
    token_variable="${role}_token"
    echo "== schemathesis as $role (${seconds_per_role} s)"
    # The session, token and user routes would sign the fuzzer out or revoke its own token mid-run; they
    # are exercised by the API's own tests. Everything else is fuzzed.
    "$python" -c 'import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())' \
        --config-file "$scratch/schemathesis.toml" run "$base/api/v1/openapi.json" \
        --header "Authorization: Bearer ${!token_variable}" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,unsupported_method \
        --exclude-path-regex '^/api/v1/(session|tokens|users)' \
        --phases examples,coverage,fuzzing \
        --max-time "$seconds_per_role" \
        --workers 1 \
        --request-timeout 10 \
        --suppress-health-check all \
        --warnings off \
        --no-color >"$scratch/st-$role.log" 2>&1 || status=$?
    grep -A1 -E "^Test cases:" "$scratch/st-$role.log" | tail -n 1 || true
    # The server must still be up: a crash would otherwise read as network errors.
    curl -sf "$base/healthz" >/dev/null || { echo "the server died during the run as $role"; cat "$scratch/demo.err"; exit 1; }
    if [ "$status" -ne 0 ]; then
        tail -n 80 "$scratch/st-$role.log"
        # A failure of a check is ours; an error only in schemathesis's own test generation ("Runtime
        # Error", with no failure and the server up: seen once as CPython 3.11's "AST constructor recursion
        # depth mismatch" inside hypothesis) is reported and does not fail the run.
        if grep -q "^Failures:" "$scratch/st-$role.log" || grep -A20 "^Errors:" "$scratch/st-$role.log" | grep "🚫" | grep -vq "Runtime Error"; then
            echo "schemathesis found a failure as $role (above)"
            exit "$status"
        fi
        echo "schemathesis had an internal error generating a case as $role (above); no check failed"
        status=0
    fi
done
