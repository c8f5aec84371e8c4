-- POST the JSON body in the file $WRK_BODY, pausing $WRK_DELAY_MS between requests,
-- and print one machine-readable RESULT line at the end.
local f = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")

function delay()
  return pause
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "status": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "duration_us": %d}\n',
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout, summary.duration))
end
