-- wrk script for instructions.sh: exactly N requests (the number after "--"),
-- then wrk exits. wrk itself only knows a duration (-d), and stopping a thread
-- does not end it. Every request waits for delay(): the first N go at once,
-- any further one waits an hour, so nothing is in flight when the N-th
-- response arrives and wrk exits from response(), printing
-- "COUNT requests=N non_2xx=M" (M: answers other than 2xx/3xx).
-- (With Connection: close, a connection whose response came before the N-th
-- reconnects, and waits: use one connection there.)
local limit = 0
local sent = 0
local seen = 0
local bad = 0

init = function(args)
  limit = tonumber(args[1]) or 0
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
  if status < 200 or status > 399 then
    bad = bad + 1
  end
  if limit > 0 and seen >= limit then
    io.write(string.format("COUNT requests=%d non_2xx=%d\n", seen, bad))
    io.stdout:flush()
    os.exit(0)
  end
end
