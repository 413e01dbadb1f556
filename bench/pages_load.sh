#!/usr/bin/env bash
# Page reads against PRODUCT.md's server-reads target (patient overview p99 ≤ 10 ms at 100 concurrent clients):
# `ketacare demo` (release build) on SQLite, wrk (Debian: wrk) GETting the patient overview page and the
# worklist page with a signed-in prescriber's session cookie at 1, 16 and 100 concurrent clients. The
# overview is that of the demo patient with a session in progress (its chart, decisions, plan, order,
# session and scale results: the fullest page of the demo). Each page view runs its use cases as the
# API would, audited: every read appends its audit events (committed before the page is answered).
# The reference run in the same script is GET /healthz at the same concurrency, so results are also given
# as a ratio to it, since the machine is shared and noisy; the load average is printed before each level.
# Usage: bench/pages_load.sh [SECONDS_PER_RUN]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
bin=target/release/ketacare
cargo build --release -p ketacare --quiet   # a no-op when up to date
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
out=bench/out; mkdir -p "$out"
port=18300
base="http://127.0.0.1:$port"

field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }

# Replaces a one-time password before the account may do anything else.
change_password() {
    local jar="$1" csrf="$2" old="$3" new="$4"
    curl -sf -b "$jar" -H "X-CSRF-Token: $csrf" -H 'Content-Type: application/json' \
        -d "{\"current_password\":\"$old\",\"new_password\":\"$new\"}" "$base/api/v1/session/password" >/dev/null
}

rm -f "$out"/pages.db*
# Every wrk connection comes from 127.0.0.1, so the per-address connection cap (64) is lifted here.
"$bin" demo --database "sqlite://$out/pages.db" --bind "127.0.0.1:$port" --max-connections-per-address 100000 \
    >"$out/pages.server.out" 2>"$out/pages.server.err" &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true' EXIT   # no server left behind if a step fails
for _ in $(seq 200); do grep -q "serving on" "$out/pages.server.out" 2>/dev/null && break; sleep 0.1; done
password=$(sed -n 's/.*one-time password: //p' "$out/pages.server.out")
admin_csrf=$(curl -s -c "$out/admin.jar" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$password\"}" "$base/api/v1/session" | field csrf_token)
change_password "$out/admin.jar" "$admin_csrf" "$password" "admin bench passphrase"
curl -sf -b "$out/admin.jar" -H "X-CSRF-Token: $admin_csrf" -H 'Content-Type: application/json' \
    -d '{"username":"pages","password":"pages load password","role":"prescriber"}' "$base/api/v1/users" >/dev/null
pages_csrf=$(curl -s -c "$out/pages.jar" -H 'Content-Type: application/json' \
    -d '{"username":"pages","password":"pages load password"}' "$base/api/v1/session" | field csrf_token)
change_password "$out/pages.jar" "$pages_csrf" "pages load password" "pages load passphrase"
cookie=$(awk '$6 == "ketacare_session" { print $7 }' "$out/pages.jar")
# The patient of the session in progress: the patient of the worklist's first open alert.
patient=$(curl -sf -b "$out/pages.jar" "$base/api/v1/worklist" | sed 's/.*"open_alerts":\[//' |
    grep -o '"patient_id":"[0-9a-f]*"' | head -1 | field patient_id)
overview="/patients/$patient"
for page in "$overview" /worklist; do
    status=$(curl -s -o "$out/page.html" -w '%{http_code} %{size_download}' -b "$out/pages.jar" "$base$page")
    echo "GET $page: $status bytes"
done

run() { wrk -t "$1" -c "$2" -d "${seconds}s" -s bench/pages_load.lua "$base" -- "${@:3}" | grep '^RESULT'; }
value() { sed "s/.*$1=\([0-9.]*\).*/\1/" <<<"$2"; }
for clients in 1 16 100; do
    threads=2; [ "$clients" -lt 2 ] && threads=1
    echo "load average before c=$clients: $(cut -d' ' -f1-3 /proc/loadavg)"
    reference=$(run "$threads" "$clients" /healthz)
    for name in overview worklist; do
        page=$overview; [ "$name" = worklist ] && page=/worklist
        result=$(run "$threads" "$clients" "$page" "$cookie")
        rate=$(value per_second "$result"); reference_rate=$(value per_second "$reference")
        printf '%-8s c=%-3s %8s/s  p50 %6s ms  p99 %6s ms  not-200 %s+%s | healthz %8s/s  p99 %5s ms  rate ratio %s  p99 ratio %s\n' \
            "$name" "$clients" "$rate" "$(value p50_ms "$result")" "$(value p99_ms "$result")" \
            "$(value not_200 "$result")" "$(value socket_errors "$result")" "$reference_rate" "$(value p99_ms "$reference")" \
            "$(awk -v a="$rate" -v b="$reference_rate" 'BEGIN { printf "%.3f", a / b }')" \
            "$(awk -v a="$(value p99_ms "$result")" -v b="$(value p99_ms "$reference")" 'BEGIN { printf "%.1f", a / b }')"
    done
done
kill -TERM "$server"; wait "$server" || true
trap - EXIT
"$bin" audit verify --database "sqlite://$out/pages.db"
