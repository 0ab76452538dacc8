-- wrk script of the corpus scenarios (bench/lib/load.ts runs it): replay a file of raw request heads in order.
--
--   wrk -t1 -c50 -d10s -s replay-corpus.lua http://127.0.0.1:PORT/ -- CORPUS_FILE
--
-- The file is the heads concatenated, each ending in CRLF CRLF (bench/lib/corpus.ts writes it). init() splits it
-- once per thread; request() hands out the next head, so with one thread the connections share one position in
-- the corpus and never replay it in lockstep. Heads are sent as they are: wrk adds nothing (the Host is in each).
-- wrk calls request() once before the load to check the request parses (and to count the requests in it: it
-- pipelines that many), so the load starts at the second head; each head holds exactly one request.
-- done() prints one `RESULT {json}` line with the fields of LoadResult in bench/lib/load.ts.

-- Line-buffered stdout (set before anything is printed, which is when C allows it): wrk's "Running ..." line is
-- the harness's sign that the load starts, and into a pipe stdio would hold it back until wrk exits.
io.stdout:setvbuf("line")

local heads = {}
local count = 0
local index = 0

function init(args)
  local path = args[1]
  if path == nil then
    error("replay-corpus.lua: pass the corpus file after --")
  end
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local start = 1
  while true do
    local _, last = string.find(data, "\r\n\r\n", start, true)
    if last == nil then
      break
    end
    count = count + 1
    heads[count] = string.sub(data, start, last)
    start = last + 1
  end
  if count == 0 or start <= #data then
    error("replay-corpus.lua: " .. path .. " is not a list of request heads ending in CRLF CRLF")
  end
end

function request()
  index = index % count + 1
  return heads[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests":%d,"durationSeconds":%.6f,"requestsPerSecond":%.3f,"latencyP50Ms":%.3f,' ..
    '"latencyP99Ms":%.3f,"errors":%d,"timeouts":%d,"non2xx":%d,"mismatches":0,"statusCodes":{}}\n',
    summary.requests,
    seconds,
    seconds > 0 and summary.requests / seconds or 0,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout,
    e.timeout,
    e.status))
end
