-- GET /customers/<id> over existing ids, round-robin (wrk ... -- IDS_FILE).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "ids.lua")

function request()
  return wrk.format("GET", "/customers/" .. next_id())
end
