-- Change an existing customer; never create one.
-- KEYS[1] customer:<id>; KEYS[2] its slot's outbox (absent: events off)
-- ARGV[1] If-Match condition (see etag.lua); ARGV[2] the prefix of metadata
-- fields; ARGV[3] '1' to remove every metadata field first, else '0';
-- ARGV[4] the most metadata fields a write that adds one may leave;
-- ARGV[5] the email condition (below); ARGV[6] number of read-only checks, then for each a field name and two
-- tagged values (see tagged) of which its stored value must be one; then the
-- number of field/value pairs to set, the pairs, and the names of fields to
-- remove.

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

-- The email condition: '' none; 'is:<email>' write only if the stored email
-- is exactly <email>, 'absent' only if there is none, 'token:<t>' only if the
-- stored email_token is <t> ('' for none). When it fails, nothing is written
-- and the reply carries what the caller needs to index the new email first:
-- {'email', created_at, email, email_token}.
local function email_holds(condition)
  if condition == '' then return true end
  local stored = redis.call('HGET', KEYS[1], 'email')
  if condition == 'absent' then return not stored end
  if string.sub(condition, 1, 3) == 'is:' then return stored == string.sub(condition, 4) end
  return (redis.call('HGET', KEYS[1], 'email_token') or '') == string.sub(condition, 7)
end

local prefix, clear, most = ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
local function is_metadata(name) return string.sub(name, 1, #prefix) == prefix end

local current = redis.call('HGETALL', KEYS[1])
if #current == 0 then return {'missing'} end
local failed = precondition_failure(ARGV[1], current)
if failed then return {'mismatch', failed} end
local checks = tonumber(ARGV[6])
for i = 7, 6 + 3 * checks, 3 do
  local stored = tagged(redis.call('HGET', KEYS[1], ARGV[i]))
  if stored ~= ARGV[i + 1] and stored ~= ARGV[i + 2] then return {'readonly', ARGV[i]} end
end
if not email_holds(ARGV[5]) then
  local stored = redis.call('HMGET', KEYS[1], 'created_at', 'email', 'email_token')
  return {'email', stored[1] or '', stored[2] or '', stored[3] or ''}
end
local at = 7 + 3 * checks
local count = tonumber(ARGV[at])
local sets, removes = at + 1, at + 1 + 2 * count

-- The metadata fields there will be, counted before anything is written (a
-- refused write writes nothing), and only when this write adds one: within
-- one script no other write interleaves, so the limit holds under concurrency.
local adds = false
for i = sets, removes - 1, 2 do
  if is_metadata(ARGV[i]) then adds = true end
end
if adds then
  local held, n = {}, 0
  if not clear then
    for i = 1, #current, 2 do
      if is_metadata(current[i]) then held[current[i]] = true end
    end
  end
  for i = removes, #ARGV do held[ARGV[i]] = nil end
  for i = sets, removes - 1, 2 do
    if is_metadata(ARGV[i]) then held[ARGV[i]] = true end
  end
  for _ in pairs(held) do n = n + 1 end
  if n > most then return {'toomany', tostring(n)} end
end

if clear then
  for i = 1, #current, 2 do
    if is_metadata(current[i]) then redis.call('HDEL', KEYS[1], current[i]) end
  end
end
if count > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, sets, removes - 1))
end
if #ARGV >= removes then
  redis.call('HDEL', KEYS[1], unpack(ARGV, removes))
end
local updated = redis.call('HGETALL', KEYS[1])
-- A write (a field set or removed: updated_at then changes too) is an event;
-- a request that only checked conditions wrote nothing and adds none.
if count > 0 or #ARGV >= removes or clear then record_event(KEYS[2], 'updated', updated, 1) end
table.insert(updated, 1, 'ok')
return updated
