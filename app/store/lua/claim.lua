-- Claim an email for a customer (UNIQUE_EMAILS): the one key per address
-- that makes "one customer per email" atomic on a cluster.
-- KEYS[1] customers:email-claim:<address>; its value is <id>:<email_token>.
-- ARGV[1] the claimant's id, ARGV[2] its new email_token, ARGV[3] a value
-- the caller found stale and may replace ('' for none).
-- The claimant takes a free claim, refreshes its own, or replaces exactly
-- the stale value it checked; otherwise it learns the current holder.
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #ARGV[1] + 1) ~= ARGV[1] .. ':' and current ~= ARGV[3] then
  return {'taken', current}
end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2])
return {'ok'}
