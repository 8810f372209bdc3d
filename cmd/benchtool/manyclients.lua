-- Each request comes from another client (X-Forwarded-For; certd must
-- trust 127.0.0.1 as a proxy), so that certd's per-client rate limit,
-- which stays on, does not throttle the measured traffic. (wrk runs
-- LuaJIT: no bit operators.)
local n = 0
function init(args)
  n = math.random(1, 1000) * 100000
end
function request()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format(nil, nil, {["X-Forwarded-For"] = ip})
end
