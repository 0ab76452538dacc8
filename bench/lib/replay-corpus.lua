-- wrk script of the corpus scenarios (bench/lib/load.ts runs it): replay a file of raw request heads in order.
--
--   wrk -t1 -c50 -d10s -s replay-corpus.lua http://127.0.0.1:PORT/ -- CORPUS_FILE
--
-- The file is the heads concatenated, each ending in CRLF CRLF (bench/lib/corpus.ts writes it). init() splits it
-- once per thread; request() hands out the next head, so with one thread the connections share one position in
-- the corpus and never replay it in lockstep. Heads are sent as they are: wrk adds nothing (the Host is in each).
-- wrk calls request() once before the load to check the request parses (and to count the requests in it: it
-- pipelines that many), so the load starts at the second head; each head holds exactly one request.
-- done() (wrk-summary.lua) prints one `RESULT {json}` line with the fields of LoadResult in bench/lib/load.ts.

-- done() and the line-buffered stdout: wrk-summary.lua, next to this file.
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "wrk-summary.lua")

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
