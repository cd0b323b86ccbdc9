-- The event of a change, added to the outbox of the customer's slot by the
-- script that makes the change: both happen, or neither (docs/events.md).
-- outbox: the outbox key, or nil when events are off; flat: the stored hash
-- after the change (before it, for a delete) as field/value pairs from first.
local function record_event(outbox, kind, flat, first)
  if not outbox then return end
  local fields = {}
  for i = first, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  redis.call('XADD', outbox, '*', 'type', kind, 'customer', string.sub(KEYS[1], 10),
    'fields', cjson.encode(fields))
end
