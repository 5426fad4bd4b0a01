-- transfer.lua: the `shared-state` scenario's opposite transfers between two accounts.
-- GET /state/transfer?order=O&from=A&to=B, then the same from B to A, round and round (each wrk
-- thread keeps its own place in the round): two requests in flight on two threads meet each
-- other's first lock, the window in which `naive` deadlocks and `ordered` cannot.  Both
-- requests are prebuilt; request() only picks the next one.
-- Arguments: order=naive|ordered a=A b=B hold_us=H [timeout_ms=T] (timeout_ms: naive only)
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local requests = {}
local next_one = 0

function init(args)
   local a = cvplab.args(args)
   local order = cvplab.need(a, "order")
   local tail = "&hold_us=" .. cvplab.need(a, "hold_us")
   if a.timeout_ms and a.timeout_ms ~= "" then
      tail = tail .. "&timeout_ms=" .. a.timeout_ms
   end
   local x, y = cvplab.need(a, "a"), cvplab.need(a, "b")
   -- One request each way: from x to y, then from y to x.
   for _, pair in ipairs({{x, y}, {y, x}}) do
      requests[#requests + 1] = wrk.format(nil, "/state/transfer?order=" .. order .. "&from=" .. pair[1] ..
                                                "&to=" .. pair[2] .. tail)
   end
end

function request()
   next_one = next_one % #requests + 1
   return requests[next_one]
end
