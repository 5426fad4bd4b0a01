-- paced.lua: the `latency` scenario's closed loop below capacity (coordinated omission, shown).
-- GET /plaintext on every connection, each connection pausing before each of its requests
-- through wrk's delay() hook, so the closed loop sends far less than the server can answer.
-- wrk's timers count whole milliseconds: a pause of D ms lasts from D - 1 ms (when another
-- connection's event wakes wrk past the timer's millisecond) to a little over D (against a
-- local server, two connections with D = 20 made a request every 20.7 ms each, with D = 1
-- every 1.34 ms).  The lab reads the throughput wrk achieved and sends cvp-load at that
-- rate.  wrk times a request from its send, after the pause: the pause is not latency.
-- Arguments: delay_ms=D (a whole number of milliseconds, at least 1)
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local pause = nil

function init(args)
   local a = cvplab.args(args)
   pause = tonumber(cvplab.need(a, "delay_ms"))
   if not pause or pause < 1 or pause ~= math.floor(pause) then
      error("cvplab: delay_ms must be a whole number of milliseconds, at least 1, not " .. a.delay_ms)
   end
   wrk.path = "/plaintext"
end

function delay()
   return pause
end
