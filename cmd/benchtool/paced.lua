-- Paced load: each connection waits `pause` ms between requests, so that
-- 64 connections offer about 64*1000/(pause+service time) requests per
-- second. Set WRK_PAUSE_MS in the environment.
local pause = tonumber(os.getenv("WRK_PAUSE_MS") or "2")
function delay()
  return pause
end
