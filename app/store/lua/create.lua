-- Create a customer hash unless the key exists.
-- KEYS[1] customer:<id>; KEYS[2] its slot's outbox (absent: events off);
-- ARGV field/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
record_event(KEYS[2], 'created', ARGV, 1)
return 1
