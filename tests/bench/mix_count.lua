-- wrk script for instructions.sh's page-load mixes: the requests of mix.lua
-- (mix_requests.lua), exactly N of them (count.lua's way: the first N go at
-- once, any further one waits an hour; wrk exits from response() on the N-th
-- answer). wrk -s mix_count.lua URL -- <kind> <pin> <replay pin> <N>.
-- Prints "COUNT requests=N non_2xx=M miss=K": M answers other than 2xx/3xx
-- and 409, K answers 409 (the replayed action's miss, which nginx and HAProxy
-- pass on; skewgate replays it and answers 200).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "mix_requests.lua")

local list, n, i = nil, 0, 0
local limit, sent, seen, bad, miss = 0, 0, 0, 0, 0

init = function(args)
  list = mix_requests(args[1], args[2] or "", args[3] or "")
  n = #list
  limit = tonumber(args[4]) or 0
end

request = function()
  i = i % n + 1
  return list[i]
end

delay = function()
  sent = sent + 1
  if limit > 0 and sent > limit then
    return 3600000
  end
  return 0
end

response = function(status, headers, body)
  seen = seen + 1
  if status == 409 then
    miss = miss + 1
  elseif status < 200 or status > 399 then
    bad = bad + 1
  end
  if limit > 0 and seen >= limit then
    io.write(string.format("COUNT requests=%d non_2xx=%d miss=%d\n", seen, bad, miss))
    io.stdout:flush()
    os.exit(0)
  end
end
