-- wrk script for bench/pages_load.sh. Arguments: PATH (the page to GET), then COOKIE (the session cookie's
-- value; none for /healthz). Responses other than 200 are counted (a redirect to the sign-in page would
-- otherwise pass for a fast page). done() prints one RESULT line.

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local path, headers = "/healthz", {}
-- A global, not a local: done() reads each thread's count with thread:get, which sees globals only.
not_ok = 0

function init(args)
    path = args[1]
    if args[2] and args[2] ~= "" then
        headers = { ["Cookie"] = "ketacare_session=" .. args[2] }
    end
end

function request()
    return wrk.format("GET", path, headers)
end

function response(status, response_headers, body)
    if status ~= 200 then
        not_ok = not_ok + 1
    end
end

function done(summary, latency, requests)
    local bad = 0
    for _, thread in ipairs(threads) do
        bad = bad + (thread:get("not_ok") or 0)
    end
    local seconds = summary.duration / 1e6
    local errors = summary.errors
    io.write(string.format("RESULT requests=%d per_second=%.1f p50_ms=%.2f p99_ms=%.2f not_200=%d socket_errors=%d\n",
        summary.requests, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        bad, errors.connect + errors.read + errors.write + errors.timeout))
end
