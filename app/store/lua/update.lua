-- Change an existing customer; never create one.
-- KEYS[1] customer:<id>; KEYS[2] its slot's outbox (absent: events off)
-- ARGV[1] If-Match condition (see etag.lua); ARGV[2] number of read-only
-- checks, then for each a field name and two tagged values (see tagged) of
-- which its stored value must be one; then the number of field/value pairs
-- to set, the pairs, and the names of fields to remove.

-- A stored timestamp tagged as app/store/timestamps.py's stored_forms() tags it: 'n' for
-- none, 'm' and the microseconds without leading zeros (the service's form:
-- at most 16 digits), 't' and the text for anything else.
local function tagged(value)
  if not value then return 'n' end
  if #value <= 16 and string.find(value, '^%d+$') then
    return 'm' .. (string.gsub(value, '^0+(%d)', '%1'))
  end
  return 't' .. value
end

local current = redis.call('HGETALL', KEYS[1])
if #current == 0 then return {'missing'} end
local failed = precondition_failure(ARGV[1], current)
if failed then return {'mismatch', failed} end
local checks = tonumber(ARGV[2])
for i = 3, 2 + 3 * checks, 3 do
  local stored = tagged(redis.call('HGET', KEYS[1], ARGV[i]))
  if stored ~= ARGV[i + 1] and stored ~= ARGV[i + 2] then return {'readonly', ARGV[i]} end
end
local at = 3 + 3 * checks
local count = tonumber(ARGV[at])
if count > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, at + 1, at + 2 * count))
end
if #ARGV > at + 2 * count then
  redis.call('HDEL', KEYS[1], unpack(ARGV, at + 1 + 2 * count))
end
local updated = redis.call('HGETALL', KEYS[1])
-- A write (a field set or removed: updated_at then changes too) is an event;
-- a request that only checked conditions wrote nothing and adds none.
if count > 0 or #ARGV > at + 2 * count then record_event(KEYS[2], 'updated', updated, 1) end
table.insert(updated, 1, 'ok')
return updated
