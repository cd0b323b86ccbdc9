-- Change an existing customer; never create one.
-- KEYS[1] customer:<id>
-- ARGV[1] If-Match condition (see etag.lua), ARGV[2] number of field/value
-- pairs to set, then the pairs, then the names of fields to remove.
local current = redis.call('HGETALL', KEYS[1])
if #current == 0 then return {'missing'} end
local failed = precondition_failure(ARGV[1], current)
if failed then return {'mismatch', failed} end
local count = tonumber(ARGV[2])
if count > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * count))
end
if #ARGV > 2 + 2 * count then
  redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * count))
end
local updated = redis.call('HGETALL', KEYS[1])
table.insert(updated, 1, 'ok')
return updated
