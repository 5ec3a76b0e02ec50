-- wrk script for run.sh's page-load mixes (mix_requests.lua says what they
-- send): wrk -s mix.lua URL -- <kind> <pin> <replay pin>. Each wrk thread
-- cycles through the requests of one page load (or one kind of them); wrk's
-- Lua has no per-connection hook, so the connections share that cycle: the
-- proportions are exact, the order on one connection is not a browser's.
-- The pins are fixed cookies (the same bytes for every proxy). Prints the
-- BENCH line of report.lua.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "mix_requests.lua")

local list, n, i = nil, 0, 0

init = function(args)
  list = mix_requests(args[1], args[2] or "", args[3] or "")
  n = #list
end

request = function()
  i = i % n + 1
  return list[i]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%.0f duration_us=%.0f bytes=%.0f p50_us=%.0f p99_us=%.0f " ..
    "mean_us=%.1f max_us=%.0f err_connect=%.0f err_read=%.0f err_write=%.0f " ..
    "err_status=%.0f err_timeout=%.0f\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
