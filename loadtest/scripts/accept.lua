-- accept.lua: the `accept` scenario, how reactors spreads connections.
-- GET /io/sleep?ms=W over many connections: a short timer wait keeps every loop
-- lightly loaded, so each loop's requests follow the connections it was handed.
-- The lab reads /stats before and after each run for connections and requests
-- per worker (round-robin against reuseport).
-- Arguments: ms=W
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   local a = cvplab.args(args)
   wrk.path = "/io/sleep?ms=" .. cvplab.need(a, "ms")
end
