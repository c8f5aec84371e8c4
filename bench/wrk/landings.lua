-- POST one new raw reading per request, for bench/serve.py's landings scenario:
-- every request is a new (entity, time), so the server stores each one (no
-- duplicate short-cut) and computes its windows from the entity's history.
--
--   WRK_READINGS=readings.txt WRK_ENTITIES=1000 WRK_THREADS=2 WRK_TIME_BASE=1000 \
--     wrk -t2 -c16 -d20s --latency -s bench/wrk/landings.lua URL
--
-- WRK_READINGS holds one JSON fragment per line: a reading's sensor values without
-- the entity and the time ("\"s2\":642.1,..."). Thread k of WRK_THREADS takes the
-- entities k+1, k+1+WRK_THREADS, ...; each entity's times go up by one from
-- WRK_TIME_BASE, a round of the thread's entities at a time.

local function number(name)
  local value = tonumber(os.getenv(name) or "")
  if value == nil then error("set " .. name) end
  return value
end

local started = 0
function setup(thread)
  thread:set("id", started)
  started = started + 1
end

function init(args)
  entities, threads, base = number("WRK_ENTITIES"), number("WRK_THREADS"),
    number("WRK_TIME_BASE")
  mine = math.floor((entities - id - 1) / threads) + 1
  readings = {}
  for line in io.lines(os.getenv("WRK_READINGS")) do
    if #line > 0 then table.insert(readings, line) end
  end
  sent = 0
  headers = {["Content-Type"] = "application/json"}
end

function request()
  local slot = sent % mine
  local entity = id + 1 + threads * slot
  local time = base + math.floor(sent / mine)
  local values = readings[sent % #readings + 1]
  sent = sent + 1
  return wrk.format("POST", nil, headers,
    string.format('{"unit":%d,"cycle":%d,%s}', entity, time, values))
end

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")
