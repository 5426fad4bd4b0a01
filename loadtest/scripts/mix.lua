-- mix.lua: the `latency` scenario's mixed workload, its capacity measured closed-loop.
-- A fixed mix over keep-alive connections: io_weight requests of GET /io/sleep?ms=W, then one of
-- GET /cpu/pbkdf2?iterations=N, round and round (each wrk thread keeps its own place in the
-- round), the proportions cvp-load's weighted URLs send open-loop.  Requests are prebuilt.
-- Arguments: ms=W iterations=N io_weight=K
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local requests = {}
local next_one = 0

function init(args)
   local a = cvplab.args(args)
   local weight = tonumber(cvplab.need(a, "io_weight"))
   if not weight or weight < 1 or weight ~= math.floor(weight) then
      error("cvplab: io_weight must be a whole number, at least 1")
   end
   local io = wrk.format(nil, "/io/sleep?ms=" .. cvplab.need(a, "ms"))
   for _ = 1, weight do
      requests[#requests + 1] = io
   end
   requests[#requests + 1] = wrk.format(nil, "/cpu/pbkdf2?iterations=" .. cvplab.need(a, "iterations"))
end

function request()
   next_one = next_one % #requests + 1
   return requests[next_one]
end
