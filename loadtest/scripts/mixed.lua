-- mixed.lua: the `mixed` scenario, two wrk processes at once against one server.
-- stream=io:  GET /io/sleep?ms=W            (the stream whose latency is reported)
-- stream=cpu: GET /cpu/pbkdf2?iterations=N  (keeps the CPU busy)
-- Arguments: stream=io ms=W [stagger=N] | stream=cpu iterations=N
--   stagger=N spreads the first requests of this thread's N connections over W.
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   local a = cvplab.args(args)
   local stream = cvplab.need(a, "stream")
   if stream == "io" then
      local ms = cvplab.need(a, "ms")
      wrk.path = "/io/sleep?ms=" .. ms
      if a.stagger then
         cvplab.stagger(tonumber(a.stagger), tonumber(ms))
      end
   elseif stream == "cpu" then
      wrk.path = "/cpu/pbkdf2?iterations=" .. cvplab.need(a, "iterations")
   else
      error("cvplab: stream must be io or cpu, not " .. stream)
   end
end
