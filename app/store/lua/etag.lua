-- The ETag of a hash: SHA-1 over its fields sorted by name, each written as
-- <byte length>:<name><byte length>:<value>. app/customers/model.py's etag_of()
-- computes the same in Python; names are compared byte by byte because Lua's
-- string "<" follows the server's locale.
local function byte_order(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function etag_of(flat)
  local names, values = {}, {}
  for i = 1, #flat, 2 do
    names[#names + 1] = flat[i]
    values[flat[i]] = flat[i + 1]
  end
  table.sort(names, byte_order)
  local parts = {}
  for _, name in ipairs(names) do
    local value = values[name]
    parts[#parts + 1] = #name .. ':' .. name .. #value .. ':' .. value
  end
  return redis.sha1hex(table.concat(parts))
end

-- If-Match: '' means no condition, '*' any current version, else a list of
-- tags separated by spaces. Returns nil when the condition holds, else the
-- current tag.
local function precondition_failure(condition, flat)
  if condition == '' or condition == '*' then return nil end
  local tag = etag_of(flat)
  if string.find(' ' .. condition .. ' ', ' ' .. tag .. ' ', 1, true) then return nil end
  return tag
end
