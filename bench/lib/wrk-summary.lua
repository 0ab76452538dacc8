-- wrk script of the plain wrk loads (bench/lib/load.ts runs it, e.g. the HTTPS scenarios): wrk's own requests,
-- and at the end one `RESULT {json}` line with the fields of LoadResult in bench/lib/load.ts. replay-corpus.lua
-- loads this file for the same line.
--
--   wrk -t1 -c50 -d10s -s wrk-summary.lua https://127.0.0.1:PORT/

-- Line-buffered stdout (set before anything is printed, which is when C allows it): wrk's "Running ..." line is
-- the harness's sign that the load starts, and into a pipe stdio would hold it back until wrk exits.
io.stdout:setvbuf("line")

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
