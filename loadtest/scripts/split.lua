-- split.lua: the `split` scenario, parallelism inside one request.
-- GET /cpu/primes?limit=L&split=K over one connection: the K chunks of one
-- request run one after another, or side by side where the model has a pool.
-- Arguments: limit=L split=K
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   local a = cvplab.args(args)
   wrk.path = "/cpu/primes?limit=" .. cvplab.need(a, "limit") .. "&split=" .. cvplab.need(a, "split")
end
