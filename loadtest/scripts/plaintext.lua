-- plaintext.lua: the `plaintext` scenario, per-request overhead.
-- GET /plaintext ("Hello, World!"); nginx answers the same path with `return 200`.
-- Arguments: none.
local cvplab = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

function init(args)
   cvplab.args(args)
   wrk.path = "/plaintext"
end
