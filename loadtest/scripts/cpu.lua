-- cpu.lua: the `cpu` scenario, CPU work swept across worker counts.
-- GET /cpu/pbkdf2?iterations=N (PBKDF2-SHA256; the lab calibrates N to a few ms).
-- Arguments: iterations=N
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   local a = cvplab.args(args)
   wrk.path = "/cpu/pbkdf2?iterations=" .. cvplab.need(a, "iterations")
end
