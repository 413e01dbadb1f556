-- wrk script for bench/vitals_load.sh. Arguments: MODE (observe | healthz), then for observe: SESSIONS_FILE
-- (one session path per line), TOKEN, BODY_FILE, THREADS. Each wrk thread posts to its own share of the
-- sessions in turn (session i goes to thread i mod THREADS), so two requests in flight rarely share a
-- session, as when each nurse enters the vital signs of their own patient. done() prints one RESULT line.

local thread_count = 0

function setup(thread)
    thread_count = thread_count + 1
    thread:set("thread_index", thread_count - 1)
end

local mode, paths, headers, body, threads, counter = "healthz", {}, {}, "", 1, 0

function init(args)
    mode = args[1]
    if mode ~= "observe" then return end
    for line in io.lines(args[2]) do
        if line ~= "" then paths[#paths + 1] = line end
    end
    headers = { ["Authorization"] = "Bearer " .. args[3], ["Content-Type"] = "application/json" }
    local file = io.open(args[4])
    body = file:read("*a")
    file:close()
    threads = tonumber(args[5])
end

function request()
    if mode ~= "observe" then
        return wrk.format("GET", "/healthz")
    end
    local index = (counter * threads + thread_index) % #paths
    counter = counter + 1
    return wrk.format("POST", paths[index + 1] .. "/observations", headers, body)
end

function done(summary, latency, requests)
    local seconds = summary.duration / 1e6
    local errors = summary.errors
    io.write(string.format("RESULT requests=%d per_second=%.1f p50_ms=%.2f p99_ms=%.2f non_2xx=%d socket_errors=%d\n",
        summary.requests, summary.requests / seconds, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
