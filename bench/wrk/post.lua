-- POST one JSON body, the same on every request, for bench/serve.py.
--
--   WRK_BODY_FILE=body.json wrk -t2 -c16 -d20s --latency -s bench/wrk/post.lua URL
--
-- The body is read from the file named by WRK_BODY_FILE, so one script serves every
-- server and scenario. done() (report.lua) prints the line the harness parses.

local path = os.getenv("WRK_BODY_FILE")
if path == nil or path == "" then
  error("set WRK_BODY_FILE to the file that holds the request body")
end
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
