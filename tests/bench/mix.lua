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

-- The BENCH line, as every other run.sh workload prints it.
dofile(here .. "report.lua")
