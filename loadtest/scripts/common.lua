-- common.lua: shared by every cvplab scenario script.
--
-- A scenario script loads it with
--   local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
-- and gets:
--   * cvplab.args(args): wrk's arguments after "--", each "key=value", as a table;
--   * cvplab.need(t, key): t[key], or an error naming the missing argument;
--   * cvplab.stagger(n, span_ms): spreads the first requests of n connections over span_ms;
--   * a global done() that prints one line, "CVPLAB_RESULT " followed by JSON:
--       {"requests":N,"duration_us":N,"bytes":N,
--        "errors":{"connect":N,"read":N,"write":N,"timeout":N,"status":N},
--        "latency_us":{"min":..,"mean":..,"stdev":..,"max":..,"p50":..,"p90":..,"p99":..,"p999":..}}
--     Latencies are microseconds, null when no response completed in time.
--     errors.status counts responses with a status of 400 or more (wrk's rule).
-- Scenario scripts set wrk.path in init() and define no response(), so wrk sends one
-- prebuilt request.  Only io.lua with spread=D defines request(), to pick one of a few
-- prebuilt requests at random; no script calls Lua for each response.

local cvplab = {}

function cvplab.args(list)
   local t = {}
   for _, a in ipairs(list or {}) do
      local k, v = a:match("^([%w_]+)=(.*)$")
      if not k then
         error("cvplab: script argument is not key=value: " .. tostring(a))
      end
      t[k] = v
   end
   return t
end

function cvplab.need(t, key)
   local v = t[key]
   if v == nil or v == "" then
      error("cvplab: missing script argument " .. key .. "=...")
   end
   return v
end

-- Spreads the first requests of this thread's n connections evenly over span_ms,
-- then sends every later request at once.  wrk opens all connections together, so
-- without this every connection waits in lockstep, round after round: a single
-- event loop then serves each round as one burst, and the burst's length shows up
-- as latency.  Clients in the wild do not arrive in lockstep.  (Defining delay()
-- costs wrk a timer event per request; the scripts use it only where the server's
-- work is a wait, and paced.lua, whose point is the pause.)
function cvplab.stagger(n, span_ms)
   local started = 0
   function delay()
      if started < n then
         started = started + 1
         return math.floor((started - 1) * span_ms / n)
      end
      return 0
   end
end

-- A JSON number, or null for nothing measured.
local function number(x)
   if x == nil or x ~= x or x == math.huge or x == -math.huge then
      return "null"
   end
   return string.format("%.1f", x)
end

function done(summary, latency, requests)
   local measured = latency.max > 0
   local function lat(x)
      if measured then return number(x) end
      return "null"
   end
   local e = summary.errors
   io.write(string.format(
      'CVPLAB_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},' ..
      '"latency_us":{"min":%s,"mean":%s,"stdev":%s,"max":%s,' ..
      '"p50":%s,"p90":%s,"p99":%s,"p999":%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.timeout, e.status,
      lat(latency.min), lat(latency.mean), lat(latency.stdev), lat(latency.max),
      lat(latency:percentile(50)), lat(latency:percentile(90)),
      lat(latency:percentile(99)), lat(latency:percentile(99.9))))
end

return cvplab
