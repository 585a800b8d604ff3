-- make soak, part 3: wrk's script for manifest polls. Every second request carries If-None-Match with the
-- last ETag this connection's thread saw (agents that already hold the revision get a 304), the others are
-- plain GETs (200). Every status is counted; done() prints one line "SOAKJSON {...}" with the request count,
-- the duration, latency percentiles (microseconds), the statuses and wrk's socket errors.
local etag = nil
local n = 0
statuses = {}

request = function()
  n = n + 1
  if etag ~= nil and n % 2 == 0 then
    return wrk.format(nil, nil, { ["If-None-Match"] = etag })
  end
  return wrk.format(nil, nil, nil)
end

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    etag = headers["ETag"] or headers["etag"] or etag
  end
end

local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end

done = function(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      counts[k] = (counts[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(counts) do
    table.insert(parts, string.format('"%d":%d', k, v))
  end
  io.write(string.format(
    'SOAKJSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ","), summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
