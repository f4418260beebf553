-- wrk script: random 256 KiB Range requests over a file of SIZE bytes (env), at PATH (env).
local size = tonumber(os.getenv("SIZE"))
local path = os.getenv("WSPATH")
local chunk = 256 * 1024
math.randomseed(os.time())
request = function()
  local n = math.floor(size / chunk)
  local i = math.random(0, n - 1)
  local from = i * chunk
  return wrk.format("GET", path, { ["Range"] = "bytes=" .. from .. "-" .. (from + chunk - 1) })
end
