-- The requests one page load of a Next.js app sends (design.md section 2,
-- "Wire facts"), for mix.lua and mix_count.lua (loaded with dofile, never run
-- by wrk itself). Only the headers skewgate reads to classify and route a
-- request are sent (no User-Agent, Accept-Language, ...): the mixes measure
-- the product path, not header parsing.
--
-- Two apps of the bench's skewgate config (conf/skewgate.yaml.in), both on
-- the same two upstream builds (dpl-a retained, dpl-b current):
--   localhost          built with a deployment ID (assets carry ?dpl=, RSC
--                      and actions x-deployment-id) and with manifests: an
--                      action is checked against the named build's manifest.
--   replay.localhost   built without a deployment ID and without manifests
--                      (zero-config): a stale action goes to the pinned
--                      build, which answers 409 + x-nextjs-action-not-found
--                      (Next.js 16.4), and skewgate replays it on dpl-a.
--                      (An app with manifests reroutes by manifest instead
--                      and never needs a replay.)
--
-- mix_requests(kind, pin, replay_pin) -> list of raw requests; kind:
--   mix_page      one page load: document (no pin: skewgate seals one), 10
--                 assets, 3 RSC prefetches, 1 action, 1 replayed action
--   mix_document, mix_assets, mix_rsc, mix_action, mix_replay: one kind alone
-- pin / replay_pin: "skewgate_pin=<value>" sealed by the skewgate under test
-- for each app (run.sh / instructions.sh fetch them once; every proxy gets
-- the same bytes).

ACTION_CURRENT = "842e48e9326f96c01e504bd8415961c674f0ff0984" -- both manifests, both builds
ACTION_OLD = "28308176abe93927d250602e3372778ede5f7bac89"     -- dpl-a only

local ASSETS = {
  "/_next/static/chunks/webpack-5b7a1c0e2f3d4a6b.js",
  "/_next/static/chunks/main-app-9e8d7c6b5a4f3e2d.js",
  "/_next/static/chunks/framework-0a1b2c3d4e5f6a7b.js",
  "/_next/static/chunks/117-c4d5e6f7a8b9c0d1.js",
  "/_next/static/chunks/app/layout-1f2e3d4c5b6a7980.js",
  "/_next/static/chunks/app/cart/page-8a9b0c1d2e3f4a5b.js",
  "/_next/static/chunks/app/not-found-6d5c4b3a29181706.js",
  "/_next/static/chunks/polyfills-42372ed130431b0a.js",
  "/_next/static/css/app-3c2b1a0f9e8d7c6b.css",
  "/_next/static/media/inter-latin-4f5e6d7c.woff2",
}
local PREFETCHES = { "/cart/checkout", "/cart/shipping", "/cart/summary" }
-- Next-Router-State-Tree as the 15.x/16.x client sends it (URL-encoded JSON)
local STATE_TREE = "%5B%22%22%2C%7B%22children%22%3A%5B%22cart%22%2C%7B%22children%22%3A%5B%22__PAGE__%22%2C%7B%7D%2C%22%2Fcart%22%2C%22refresh%22%5D%7D%5D%7D%2Cnull%2Cnull%2Ctrue%5D"
local ACTION_BODY = '["$K1",{"qty":2,"sku":"bench-0001"}]'

local function document()
  return wrk.format("GET", "/cart", {
    ["Host"] = "localhost",
    ["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    ["Sec-Fetch-Dest"] = "document",
    ["Sec-Fetch-Mode"] = "navigate",
  })
end

local function asset(path, pin)
  return wrk.format("GET", path .. "?dpl=dpl-b", {
    ["Host"] = "localhost",
    ["Accept"] = "*/*",
    ["Referer"] = "http://localhost/cart",
    ["Sec-Fetch-Dest"] = "script",
    ["Sec-Fetch-Mode"] = "no-cors",
    ["Cookie"] = pin,
  })
end

local function prefetch(path, pin, n)
  return wrk.format("GET", path .. "?_rsc=1b2c" .. n, {
    ["Host"] = "localhost",
    ["Accept"] = "*/*",
    ["RSC"] = "1",
    ["Next-Router-Prefetch"] = "1",
    ["Next-Router-State-Tree"] = STATE_TREE,
    ["Next-Url"] = "/cart",
    ["x-deployment-id"] = "dpl-b",
    ["Cookie"] = pin,
  })
end

local function action(host, id, pin, with_deployment_id)
  local headers = {
    ["Host"] = host,
    ["Accept"] = "text/x-component",
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["Origin"] = "http://" .. host,
    ["Next-Action"] = id,
    ["Next-Router-State-Tree"] = STATE_TREE,
    ["Cookie"] = pin,
  }
  if with_deployment_id then headers["x-deployment-id"] = "dpl-b" end
  return wrk.format("POST", "/cart", headers, ACTION_BODY)
end

function mix_requests(kind, pin, replay_pin)
  local list = {}
  local function add(r) list[#list + 1] = r end
  local page = kind == "mix_page"
  if page or kind == "mix_document" then add(document()) end
  if page or kind == "mix_assets" then
    for _, path in ipairs(ASSETS) do add(asset(path, pin)) end
  end
  if page or kind == "mix_rsc" then
    for i, path in ipairs(PREFETCHES) do add(prefetch(path, pin, i)) end
  end
  -- the current build's action: dpl-b named by x-deployment-id and the pin,
  -- its manifest checked for the ID (design.md section 4: evidence beats hints)
  if page or kind == "mix_action" then add(action("localhost", ACTION_CURRENT, pin, true)) end
  -- a tab of the old build calls an action the pinned (current) build no
  -- longer has: current answers the miss, skewgate replays it on dpl-a
  if page or kind == "mix_replay" then add(action("replay.localhost", ACTION_OLD, replay_pin, false)) end
  if #list == 0 then
    io.stderr:write("mix_requests: unknown kind '" .. tostring(kind) .. "'\n")
    os.exit(2)
  end
  return list
end
