-- Create a customer for an Idempotency-Key, exactly once.
-- KEYS[1] customer:<id>, where <id> is derived from the key.
-- KEYS[2] the key's record, in the same slot (its hash tag is KEYS[1]).
-- KEYS[3] the slot's outbox (absent: events off); a replay adds no event.
-- ARGV[1] record to keep, ARGV[2] its time to live in seconds, ARGV[3..] field/value pairs.
local record = redis.call('GET', KEYS[2])
if record then return {'replay', record} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'expired'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
record_event(KEYS[3], 'created', ARGV, 3)
return {'created'}
