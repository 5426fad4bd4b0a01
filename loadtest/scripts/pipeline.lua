-- pipeline.lua: the `overhead` scenario's pipelined points, as TechEmpower's pipeline.lua.
-- Builds depth=N copies of GET path=P into one string in init() and sends it whole from
-- request(): wrk counts the requests in that string (its pipeline depth), writes the
-- batch, and sends the next one once all N responses have come back.  Throughput counts
-- every response; latency is per batch, from its write to its last response.
-- Arguments: path=P depth=N
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local batch = nil

function init(args)
   local a = cvplab.args(args)
   local path = cvplab.need(a, "path")
   local depth = tonumber(cvplab.need(a, "depth"))
   if not depth or depth < 1 or depth ~= math.floor(depth) then
      error("cvplab: depth must be a whole number, at least 1, not " .. a.depth)
   end
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, path)
   end
   batch = table.concat(r)
end

function request()
   return batch
end
