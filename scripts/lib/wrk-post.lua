-- A JSON POST of {"key": "k<n>", "value": 1} over 1,000 keys; the same for the baseline
-- and the platform, so only the server differs.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, '{"key":"k' .. (n % 1000) .. '","value":1}')
end
