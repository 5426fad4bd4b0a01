-- overhead.lua: the `overhead` scenario's keep-alive points, per-request cost; `db` and `shared-state` use it too.
-- GET path=P (/plaintext, /json, /db/query...) over keep-alive connections: one prebuilt request,
-- no Lua per request or per response.  Every server answers both paths: cvp, nginx
-- (`return 200` from the lab's generated config) and the Node peer (loadtest/peers).
-- Arguments: path=P
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   local a = cvplab.args(args)
   wrk.path = cvplab.need(a, "path")
end
