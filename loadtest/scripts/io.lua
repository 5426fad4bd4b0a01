-- io.lua: the `io` scenario.
-- GET /io/sleep?ms=W, a timer wait that holds no thread, or /io/block?ms=W, a
-- blocking sleep wherever the model runs blocking work (the anti-pattern).
-- Arguments: endpoint=sleep|block ms=W [stagger=N]
--   stagger=N spreads the first requests of this thread's N connections over W.
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   local a = cvplab.args(args)
   local endpoint = cvplab.need(a, "endpoint")
   if endpoint ~= "sleep" and endpoint ~= "block" then
      error("cvplab: endpoint must be sleep or block, not " .. endpoint)
   end
   local ms = cvplab.need(a, "ms")
   wrk.path = "/io/" .. endpoint .. "?ms=" .. ms
   if a.stagger then
      cvplab.stagger(tonumber(a.stagger), tonumber(ms))
   end
end
