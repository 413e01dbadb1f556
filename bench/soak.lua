-- wrk script for bench/soak.sh: one minute of a clinic's mixed traffic over the real API, each request a bearer
-- token's. Arguments: TOKEN, PATIENTS_FILE (the patients read: one patient id per line), CHARTED_FILE (the patients
-- written to this minute, likewise), SESSIONS_FILE (one session path per line, sessions of the minute),
-- OBSERVATION_FILE, READING_FILE, CASE_FILE, MINUTE (makes idempotency keys unique across minutes),
-- ACKNOWLEDGED_PREFIX (each thread writes the writes it got a 2xx for to PREFIX.THREAD, one a line: kind, patient
-- id, and the record's id (for an observation: session id#sequence), tab-separated). Of every 20 requests: 3 patient
-- lists, 5 patient reads (the overview's first read), 4 chart writes (a blood pressure on a patient's chart,
-- re-evaluated, its decision stored if it changed), 5 vital-sign observations in an open session (the alert engine
-- runs), 3 posted assessments. Every write carries an Idempotency-Key, as a retrying client's does. Each thread
-- counts the 2xx answers per kind of write (by the Location of the answer), and done() prints one RESULT line with
-- the totals, so soak.sh can check that every acknowledged write is stored.

local threads = {}

function setup(thread)
    thread:set("thread_index", #threads)
    table.insert(threads, thread)
end

local function lines(path)
    local items = {}
    for line in io.lines(path) do
        if line ~= "" then items[#items + 1] = line end
    end
    return items
end

local function slurp(path)
    local file = io.open(path)
    local text = file:read("*a")
    file:close()
    return text
end

local token, patients, charted, sessions, observation, reading, case, minute, acknowledged_file
local counter = 0
acknowledged_observations, acknowledged_chart_writes, acknowledged_assessments = 0, 0, 0
not_2xx = 0

function init(args)
    token = args[1]
    patients = lines(args[2])
    charted = lines(args[3])
    sessions = lines(args[4])
    observation = slurp(args[5])
    reading = slurp(args[6])
    case = slurp(args[7])
    minute = args[8]
    acknowledged_file = io.open(args[9] .. "." .. thread_index, "w")
    acknowledged_file:setvbuf("line")   -- wrk ends without closing a thread's files: nothing may wait in a buffer
end

local kinds = { "list", "read", "chart", "observe", "read", "assess", "observe", "chart", "read", "list",
    "observe", "assess", "read", "chart", "observe", "list", "chart", "read", "observe", "assess" }

function request()
    counter = counter + 1
    local kind = kinds[(counter % #kinds) + 1]
    local patient = patients[((counter * 7 + thread_index) % #patients) + 1]
    local headers = { ["Authorization"] = "Bearer " .. token }
    if kind == "chart" or kind == "assess" then
        patient = charted[((counter * 7 + thread_index) % #charted) + 1]
    end
    if kind == "list" then
        return wrk.format("GET", "/api/v1/patients?limit=20", headers)
    elseif kind == "read" then
        return wrk.format("GET", "/api/v1/patients/" .. patient, headers)
    end
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = string.format("soak-%s-%d-%d", minute, thread_index, counter)
    if kind == "chart" then
        return wrk.format("POST", "/api/v1/patients/" .. patient .. "/chart/blood_pressures", headers, reading)
    elseif kind == "assess" then
        return wrk.format("POST", "/api/v1/patients/" .. patient .. "/assessments", headers, case)
    end
    local session = sessions[((counter * 3 + thread_index) % #sessions) + 1]
    return wrk.format("POST", session .. "/observations", headers, observation)
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        not_2xx = not_2xx + 1
        return
    end
    local location = headers["Location"] or headers["location"] or ""
    local patient, session, sequence = location:match("^/api/v1/patients/(%w+)/sessions/(%w+)#observation%-(%d+)$")
    if patient then
        acknowledged_observations = acknowledged_observations + 1
        acknowledged_file:write("observation\t", patient, "\t", session, "#", sequence, "\n")
        return
    end
    local chart_patient, record = location:match("^/api/v1/patients/(%w+)/chart/[%w_]+/(%w+)$")
    if chart_patient then
        acknowledged_chart_writes = acknowledged_chart_writes + 1
        acknowledged_file:write("chart\t", chart_patient, "\t", record, "\n")
        return
    end
    local assessed_patient, assessment = location:match("^/api/v1/patients/(%w+)/assessments/(%w+)$")
    if assessed_patient then
        acknowledged_assessments = acknowledged_assessments + 1
        acknowledged_file:write("assessment\t", assessed_patient, "\t", assessment, "\n")
    end
end

function done(summary, latency, requests)
    local observations, chart_writes, assessments, refused = 0, 0, 0, 0
    for _, thread in ipairs(threads) do
        observations = observations + thread:get("acknowledged_observations")
        chart_writes = chart_writes + thread:get("acknowledged_chart_writes")
        assessments = assessments + thread:get("acknowledged_assessments")
        refused = refused + thread:get("not_2xx")
    end
    local errors = summary.errors
    io.write(string.format("RESULT requests=%d per_second=%.1f p50_ms=%.2f p99_ms=%.2f not_2xx=%d socket_errors=%d "
        .. "observations=%d chart_writes=%d assessments=%d\n",
        summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, refused, errors.connect + errors.read + errors.write + errors.timeout,
        observations, chart_writes, assessments))
end
