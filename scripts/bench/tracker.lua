-- wrk script of scripts/bench/tracker.sh: compact HTTP announces for many swarms and peers.
--
--   wrk -t2 -c50 -d20s --latency -s tracker.lua http://127.0.0.1:PORT/announce -- IHFILE [close] [PEERS]
--
-- IHFILE lists hex infohashes, one a line (or set TRACKER_INFOHASHES); "close" adds
-- "Connection: close" to every request, so each one opens a new connection (or set
-- TRACKER_MODE=close); PEERS is how many distinct peers to cycle through (default 100000,
-- or TRACKER_PEERS).
--
-- Peer p (0 <= p < PEERS) always announces in swarm p % #infohashes, from port
-- 1024 + (p / #infohashes) % 64000 with peer id "-WK0001-" and p in 12 digits, and is a
-- seeder (left=0) when p % 10 == 0, a leecher otherwise: the same peers as udpload's.
-- Every byte of info_hash and peer_id is percent-encoded, as clients do for binary ones.
--
-- Each thread builds its requests once, in init, starting at a different peer, so wrk
-- spends its time sending them rather than in Lua. done() prints one line to parse:
--
--   wrkresult requests=N duration_us=N rps=F p50_ms=F p90_ms=F p99_ms=F max_ms=F
--             connect_errors=N read_errors=N write_errors=N timeouts=N non2xx=N

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function escape_all(bytes)
  return (bytes:gsub(".", function(c) return string.format("%%%02x", c:byte()) end))
end

local function read_infohashes(path)
  local f = assert(io.open(path, "r"), "tracker.lua: cannot open infohash file " .. tostring(path))
  local out = {}
  for line in f:lines() do
    line = line:gsub("%s+", "")
    if line ~= "" then
      assert(#line == 40 and not line:find("[^0-9a-fA-F]"), "tracker.lua: not a hex infohash: " .. line)
      local raw = line:gsub("..", function(h) return string.char(tonumber(h, 16)) end)
      table.insert(out, escape_all(raw))
    end
  end
  f:close()
  assert(#out > 0, "tracker.lua: no infohashes in " .. path)
  return out
end

local reqs = {}
local n = 0
local i = 0

function init(args)
  local path = args[1] or os.getenv("TRACKER_INFOHASHES")
  local mode = args[2] or os.getenv("TRACKER_MODE") or "keepalive"
  local peers = tonumber(args[3] or os.getenv("TRACKER_PEERS") or "100000")
  assert(path, "tracker.lua: pass the infohash file after --, or set TRACKER_INFOHASHES")
  assert(mode == "close" or mode == "keepalive", "tracker.lua: mode is close or keepalive, not " .. mode)
  local ihs = read_infohashes(path)
  local headers = nil
  if mode == "close" then
    headers = { ["Connection"] = "close" }
  end
  local base = wrk.path -- the URL's path, /announce
  -- Threads start far apart, so that they do not announce the same peers in step.
  local start = (id * 7919 * 13) % peers
  for k = 0, peers - 1 do
    local p = (start + k) % peers
    local ih = ihs[p % #ihs + 1]
    local port = 1024 + math.floor(p / #ihs) % 64000
    local left = (p % 10 == 0) and 0 or 1073741824
    local pid = escape_all(string.format("-WK0001-%012d", p))
    local path = string.format(
      "%s?info_hash=%s&peer_id=%s&port=%d&uploaded=0&downloaded=0&left=%d&compact=1&numwant=50",
      base, ih, pid, port, left)
    reqs[k + 1] = wrk.format("GET", path, headers)
  end
  n = peers
end

function request()
  i = i % n + 1
  return reqs[i]
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
