-- wrk script of bench/gateway: sends the bearer token from SPINE_BENCH_TOKEN on every request
-- and, at the end, prints one line of figures in the same shape as gateway_grpc_load:
--   requests=N seconds=S rps=R p50_ms=X p99_ms=Y errors=E
-- (errors: connect/read/write failures, timeouts and non-2xx/3xx answers, e.g. a 429).
-- The percentiles are wrk's: by the time done() runs, wrk has applied its coordinated-omission
-- correction to the latency histogram (src/stats.c stats_correct), so one stalled request also
-- counts as the requests its connection could have sent meanwhile. gateway_grpc_load computes
-- the direct-gRPC figures the same way.
local token = os.getenv("SPINE_BENCH_TOKEN")
if token == nil or token == "" then
  error("SPINE_BENCH_TOKEN is not set")
end
wrk.headers["Authorization"] = "Bearer " .. token

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format("requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
