-- DELETE /customers/<id>, each id once (wrk ... -- IDS_FILE THREADS).
-- Every id in the file names an existing customer; thread k of n deletes
-- ids k, k+n, k+2n, ... so no id is asked for twice. A thread that reaches
-- the end stops rather than repeat one (a DELETE of a missing customer is
-- another code path), and done() says so: the bench flags that run.

local threads = {}

function setup(thread)
  thread:set("number", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  ids = {}
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  stride = tonumber(args[2])
  position = number + 1
  exhausted = false
end

function request()
  if position > #ids then
    exhausted = true
    wrk.thread:stop()
    return wrk.format("DELETE", "/customers/none-left")
  end
  local id = ids[position]
  position = position + stride
  return wrk.format("DELETE", "/customers/" .. id)
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") then
      io.write("ids exhausted\n")
      return
    end
  end
end
