-- done() for bench/serve.py's wrk scripts: one line, "RESULT {json}", that the
-- harness parses: exact percentiles from wrk's latency histogram (in microseconds)
-- and every error count.

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
