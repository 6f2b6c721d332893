-- GET /v1/vehicles/{id}/state?at=... over the synthetic vehicles (100001-200000) at random
-- seconds after their first log (days 2 to 6): every request is a distinct cache key.
math.randomseed(os.time() + (tonumber(tostring({}):sub(8), 16) or 0))
request = function()
  local id = math.random(100001, 200000)
  local at = 1640995200 + math.random(2 * 86400, 6 * 86400)
  return wrk.format("GET", "/v1/vehicles/" .. id .. "/state?at=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", at))
end
