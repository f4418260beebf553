-- wrk script of scripts/bench/tracker.sh: compact HTTP announces for many swarms and peers.
--
--   wrk -t2 -c50 -d20s --latency -s tracker.lua http://127.0.0.1:PORT/announce \
--       -- IHFILE [close|keepalive] [PEERS] [THREADS] [CLIENTS]
--
-- IHFILE lists hex infohashes, one a line (or set TRACKER_INFOHASHES); "close" adds
-- "Connection: close" to every request, so each one opens a new connection (or set
-- TRACKER_MODE=close); PEERS is how many distinct peers to cycle through (default 100000,
-- or TRACKER_PEERS); THREADS, wrk's -t, lets each thread take its own share of the peers
-- (without it, every thread cycles through all of them from a different start);
-- CLIENTS > 0 (or TRACKER_CLIENTS) sends peer p as client address 10.x.y.z number
-- p % CLIENTS in X-Forwarded-For, so that a tracker trusting 127.0.0.1 as its proxy
-- sees the load come from CLIENTS addresses, as a public tracker's does, and its
-- per-address limits can stay on.
--
-- Peer p (0 <= p < PEERS) always announces in swarm p % #infohashes, from port
-- 1024 + (p / #infohashes) % 64000 with peer id "-WK0001-" and p in 12 digits, and is a
-- seeder (left=0) when p % 10 == 0, a leecher otherwise: the same peers as udpload's.
-- Every byte of info_hash and peer_id is percent-encoded, as clients do for binary ones.
--
-- Each thread builds its requests once, in init, so wrk spends its time sending them
-- rather than in Lua. init must stay quick: wrk starts each thread as soon as its init
-- returns but starts its clock after the last one, so a slow init would let the first
-- threads' requests count in a shorter duration. done() prints one line to parse:
--
--   wrkresult requests=N duration_us=N rps=F p50_ms=F p90_ms=F p99_ms=F max_ms=F
--             connect_errors=N read_errors=N write_errors=N timeouts=N non2xx=N

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
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
      table.insert(out, (line:gsub("..", "%%%0")))
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
  local threads = tonumber(args[4] or "0")
  local clients = tonumber(args[5] or os.getenv("TRACKER_CLIENTS") or "0")
  assert(path, "tracker.lua: pass the infohash file after --, or set TRACKER_INFOHASHES")
  assert(mode == "close" or mode == "keepalive", "tracker.lua: mode is close or keepalive, not " .. mode)
  local ihs = read_infohashes(path)
  local headers = nil
  if mode == "close" then
    headers = { ["Connection"] = "close" }
  end
  -- wrk.format once, around a marker: what comes after the path is the same for all.
  local marker = "/TRACKER-LUA-PATH"
  local whole = wrk.format("GET", marker, headers)
  local at = assert(whole:find(marker, 1, true), "tracker.lua: wrk.format lost the path")
  local head, tail = whole:sub(1, at - 1), whole:sub(at + #marker)
  -- tail ends the header block with an empty line: a per-peer header goes before it.
  local tail_headers = tail:sub(1, -3)
  local base = head .. wrk.path .. "?info_hash="
  -- peer_id is "-WK0001-" and 12 digits: the digits, escaped, three at a time.
  local prefix = "&peer_id=" .. escape_all("-WK0001-")
  local esc3 = {}
  for k = 0, 999 do
    esc3[k] = escape_all(string.format("%03d", k))
  end
  local floor = math.floor
  local first, step, count
  if threads > 0 then
    first, step, count = id % threads, threads, 0
  else
    first, step, count = (id * 7919 * 13) % peers, 1, peers
  end
  local k = 0
  local p = first
  while (threads > 0 and p < peers) or (threads == 0 and k < count) do
    local q = p % peers
    local left = (q % 10 == 0) and "0" or "1073741824"
    k = k + 1
    reqs[k] = base .. ihs[q % #ihs + 1] .. prefix ..
      esc3[floor(q / 1e9) % 1000] .. esc3[floor(q / 1e6) % 1000] ..
      esc3[floor(q / 1e3) % 1000] .. esc3[q % 1000] ..
      "&port=" .. (1024 + floor(q / #ihs) % 64000) ..
      "&uploaded=0&downloaded=0&left=" .. left .. "&compact=1&numwant=50"
    if clients > 0 then
      local c = q % clients
      reqs[k] = reqs[k] .. tail_headers .. string.format("X-Forwarded-For: 10.%d.%d.%d\r\n\r\n",
        floor(c / 65536) % 256, floor(c / 256) % 256, c % 256)
    else
      reqs[k] = reqs[k] .. tail
    end
    p = p + step
  end
  n = k
  assert(n > 0, "tracker.lua: thread " .. id .. " has no peers (PEERS < THREADS?)")
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
