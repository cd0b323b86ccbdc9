-- Free a claimed email (UNIQUE_EMAILS) if it still holds exactly this value.
-- KEYS[1] customers:email-claim:<address>; ARGV[1] <id>:<email_token>.
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
