-- Shared by get.lua, put.lua and patch.lua: the ids of existing customers, one a line,
-- from the file named by wrk's first script argument (wrk ... -- IDS_FILE).
-- Each thread starts at its own offset and walks the list round-robin, so the
-- threads do not ask for the same customer in step.

local thread_number = 0

function setup(thread)
  thread:set("offset", thread_number)
  thread_number = thread_number + 1
end

ids = {}
position = 1

function init(args)
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  position = (offset * 7919) % #ids + 1
end

function next_id()
  local id = ids[position]
  position = position % #ids + 1
  return id
end
