-- Free a claimed email (UNIQUE_EMAILS) if this customer still holds it.
-- KEYS[1] customers:email-claim:<address>; ARGV[1] <id>:<email_token>, or
-- <id>: alone to free it whatever the token (a delete: a customer that is
-- gone can hold nothing).
local current = redis.call('GET', KEYS[1])
if current and (current == ARGV[1] or (string.sub(ARGV[1], -1) == ':' and string.sub(current, 1, #ARGV[1]) == ARGV[1])) then
  redis.call('DEL', KEYS[1])
end
return 1
