-- PATCH /customers/<id> changing one field, over existing ids (wrk ... -- IDS_FILE).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "ids.lua")

local headers = { ["Content-Type"] = "application/json" }
local body = '{"phone": "+1 555 0199"}'

function request()
  return wrk.format("PATCH", "/customers/" .. next_id(), headers, body)
end
