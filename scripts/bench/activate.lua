-- POST /activate with a new fingerprint every request, spreading keys so no license reaches
-- its limit (keys from $KEYS; thread ids keep fingerprints unique across threads).
local keys = {}
local counter = 0
local thread_id = 0
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end
function init(args)
  thread_id = tid
  for line in io.lines(os.getenv("KEYS")) do
    keys[#keys + 1] = line
  end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + 1
  local key = keys[((counter * 7 + thread_id * 50021) % #keys) + 1]
  local body = '{"key":"' .. key .. '","fingerprint":"act-' .. thread_id .. '-' .. counter .. '"}'
  return wrk.format(nil, nil, nil, body)
end
