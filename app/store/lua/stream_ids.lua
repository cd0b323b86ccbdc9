-- Stream ids (<milliseconds>-<sequence>) compared as numbers, not as text.
local function id_parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

-- Whether id a comes after id b (nil b: any a does).
local function is_after(a, b)
  if not b then return true end
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  if am ~= bm then return am > bm end
  return as > bs
end
