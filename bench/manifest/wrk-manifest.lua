-- bench/manifest: wrk's script. Every request is the same, precomputed once by wrk (no per-request Lua):
--   wrk ... URL               plain GETs (the 200 run)
--   wrk ... URL -- '"etag"'   every GET carries If-None-Match with that ETag (the 304 run: agents that hold the
--                             current revision)
-- No response() callback either (it would make wrk parse every answer in Lua, slowing the load generator): the
-- bench tells 200s from 304s by the bytes read per response, and by the controller's own request counter.
-- done() prints one line "WRKJSON {...}": requests, duration, bytes, latency percentiles (microseconds), errors.
init = function(args)
  if args[1] ~= nil and args[1] ~= "" then
    wrk.headers["If-None-Match"] = args[1]
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"durationUs":%d,"bytes":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout))
end
