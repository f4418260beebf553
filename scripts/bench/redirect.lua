-- wrk script of scripts/bench/redirect.sh: GET /r/<catalog>/a<k>/<version> for random k.
--
--   wrk -t2 -c50 -d20s --latency -s redirect.lua http://127.0.0.1:PORT \
--       -- [close|keepalive] [COUNT] [CATALOG] [VERSION] [CLIENTS]
--
-- k is drawn uniformly from 0..COUNT-1 (default 1000) on every request; "close" adds
-- "Connection: close", so each request opens a new connection. wrk does not follow
-- redirects: each request is one 302 answer. Requests are built once per thread in init,
-- so wrk spends its time sending them rather than in Lua. done() prints one line:
--
--   wrkresult requests=N duration_us=N rps=F p50_ms=F p90_ms=F p99_ms=F max_ms=F
--             connect_errors=N read_errors=N write_errors=N timeouts=N non2xx=N
--
-- (wrk's "non2xx" counts answers with status > 399 only, so 302s are not errors.)
--
-- CLIENTS > 0 (or REDIRECT_CLIENTS) names one of CLIENTS client addresses (10.x.y.z) in
-- X-Forwarded-For on each request, so that a directory trusting 127.0.0.1 as its proxy
-- sees the load come from that many users and its per-address limits can stay on.
--
-- With REDIRECT_PACE_MS=M in the environment, each connection waits a random time, M ms
-- on average (exponential, whole ms as wrk's timers have), before each request: the
-- connections then offer a set load instead of as many requests as the server answers.

local reqs = {}
local n = 0

function init(args)
  local mode = args[1] or "keepalive"
  local count = tonumber(args[2] or "1000")
  local catalog = args[3] or "bench"
  local version = args[4] or "1"
  local clients = tonumber(args[5] or os.getenv("REDIRECT_CLIENTS") or "0")
  assert(mode == "close" or mode == "keepalive", "redirect.lua: mode is close or keepalive, not " .. mode)
  local headers = nil
  if mode == "close" then
    headers = { ["Connection"] = "close" }
  end
  n = math.max(count, clients)
  for j = 0, n - 1 do
    local k = j % count
    if clients > 0 then
      local c = j % clients
      headers = headers or {}
      headers["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.floor(c / 65536) % 256, math.floor(c / 256) % 256, c % 256)
    end
    reqs[j + 1] = wrk.format("GET", "/r/" .. catalog .. "/a" .. k .. "/" .. version, headers)
  end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  return reqs[math.random(n)]
end

local pace = tonumber(os.getenv("REDIRECT_PACE_MS") or "")
if pace then
  -- Defined only when pacing: wrk pays for a timer per request once delay exists.
  function delay()
    return math.floor(-math.log(1 - math.random()) * pace + 0.5)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wrkresult requests=%d duration_us=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f" ..
    " connect_errors=%d read_errors=%d write_errors=%d timeouts=%d non2xx=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.timeout, e.status))
end
