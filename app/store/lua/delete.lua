-- Delete a customer; return its created_at, email and email_token so the
-- caller can remove its index entries.
-- KEYS[1] customer:<id>; KEYS[2] its slot's outbox (absent: events off);
-- ARGV[1] If-Match condition (see etag.lua).
local current = redis.call('HGETALL', KEYS[1])
if #current == 0 then return {'missing'} end
local failed = precondition_failure(ARGV[1], current)
if failed then return {'mismatch', failed} end
local stored = redis.call('HMGET', KEYS[1], 'created_at', 'email', 'email_token')
redis.call('DEL', KEYS[1])
record_event(KEYS[2], 'deleted', current, 1)
return {'ok', stored[1] or '', stored[2] or '', stored[3] or ''}
