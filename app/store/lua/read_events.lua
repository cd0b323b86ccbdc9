-- Read the feed after a cursor, up to what readers may see.
-- KEYS[1] the feed, KEYS[2] its marks; ARGV[1] the last id the reader has
-- ('' from the start), ARGV[2] how many at most.
-- Returns {'gone'} when retention removed an entry after the cursor, else
-- {'ok', entries}.
local trimmed = redis.call('HGET', KEYS[2], 'trimmed')
if ARGV[1] ~= '' and trimmed and is_after(trimmed, ARGV[1]) then return {'gone'} end
local durable = redis.call('HGET', KEYS[2], 'durable')
if not durable then return {'ok', {}} end
local start = ARGV[1] == '' and '-' or '(' .. ARGV[1]
return {'ok', redis.call('XRANGE', KEYS[1], start, durable, 'COUNT', ARGV[2])}
