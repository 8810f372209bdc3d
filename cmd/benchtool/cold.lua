-- Every request asks for a different certificate: thread t of T takes
-- serials t+1, t+1+T, ... so no number repeats within a run of fewer than
-- `count` requests. CERTS is the number of seeded certificates (run.sh's N).
local count = tonumber(os.getenv("CERTS") or "400000")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = tonumber(tid)
  step = 2
end

function request()
  local serial = (n % count) + 1
  n = n + step
  return wrk.format("GET", string.format("/api/v1/certificates/Y000022000001263%06d", serial))
end
