-- io.lua: the `io` and `downstream` scenarios.
-- GET /io/sleep?ms=W, a timer wait that holds no thread, or /io/block?ms=W, a
-- blocking sleep wherever the model runs blocking work (the anti-pattern), or
-- /io/http?ms=W, a call to the server's downstream (--upstream), which waits W.
-- Arguments: endpoint=sleep|block|http ms=W [spread=D] [stagger=N]
--   spread=D draws each request's wait uniformly from the whole milliseconds
--     W-D .. W+D (mean W), like a downstream whose latency varies a little.  With
--     every wait exactly W, closed-loop connections fall into step: requests that a
--     busy loop reads in one batch start their timers together, finish together and
--     come back together, so the bursts grow round after round.
--   stagger=N spreads the first requests of this thread's N connections over W.
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local requests = nil

function init(args)
   local a = cvplab.args(args)
   local endpoint = cvplab.need(a, "endpoint")
   if endpoint ~= "sleep" and endpoint ~= "block" and endpoint ~= "http" then
      error("cvplab: endpoint must be sleep, block or http, not " .. endpoint)
   end
   local ms = tonumber(cvplab.need(a, "ms"))
   if not ms or ms < 1 or ms ~= math.floor(ms) then
      error("cvplab: ms must be a whole number of milliseconds, at least 1, not " .. a.ms)
   end
   local spread = tonumber(a.spread or "0")
   if not spread or spread < 0 or spread > ms or spread ~= math.floor(spread) then
      error("cvplab: spread must be a whole number of milliseconds from 0 to ms")
   end
   wrk.path = "/io/" .. endpoint .. "?ms=" .. ms
   if spread > 0 then
      -- Prebuilt, so a request costs wrk one random number and no formatting.
      requests = {}
      for w = ms - spread, ms + spread do
         requests[#requests + 1] = wrk.format(nil, "/io/" .. endpoint .. "?ms=" .. w)
      end
      math.randomseed(os.time() + (tonumber(tostring(requests):match("0x(%x+)"), 16) or 0))
      function request()
         return requests[math.random(#requests)]
      end
   end
   if a.stagger then
      cvplab.stagger(tonumber(a.stagger), ms)
   end
end
