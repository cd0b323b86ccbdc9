-- PUT /customers/<id> with {"balance": 0}, over existing ids (wrk ... -- IDS_FILE).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "ids.lua")

local headers = { ["Content-Type"] = "application/json" }
local body = '{"balance": 0}'

function request()
  return wrk.format("PUT", "/customers/" .. next_id(), headers, body)
end
