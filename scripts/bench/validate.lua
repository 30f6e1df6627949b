-- POST /validate with keys from $KEYS (one per line), round robin; with $WITH_FP, each key
-- is sent with the fingerprint "bench-fp" (pre-activated by the bench script).
local keys = {}
local with_fp = os.getenv("WITH_FP") == "1"
local counter = 0
function init(args)
  for line in io.lines(os.getenv("KEYS")) do
    keys[#keys + 1] = line
  end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
  local key = keys[(counter % #keys) + 1]
  local body
  if with_fp then
    body = '{"key":"' .. key .. '","fingerprint":"bench-fp"}'
  else
    body = '{"key":"' .. key .. '"}'
  end
  return wrk.format(nil, nil, nil, body)
end
