-- POST one JSON body, the same on every request, for bench/serve.py.
--
--   WRK_BODY_FILE=body.json wrk -t2 -c16 -d20s --latency -s bench/wrk/post.lua URL
--
-- The body is read from the file named by WRK_BODY_FILE, so one script serves every
-- server and scenario. done() prints one line, "RESULT {json}", that the harness parses:
-- exact percentiles from wrk's latency histogram (in microseconds) and every error count.

local path = os.getenv("WRK_BODY_FILE")
if path == nil or path == "" then
  error("set WRK_BODY_FILE to the file that holds the request body")
end
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local errors = summary.errors
  -- %.0f, not %d: percentiles may be floats, and %d rejects them in some Lua versions.
  io.write(string.format(
    'RESULT {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"max_us":%.0f,"mean_us":%.1f,' ..
    '"connect_errors":%.0f,"read_errors":%.0f,"write_errors":%.0f,' ..
    '"status_errors":%.0f,"timeouts":%.0f}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout))
end
