-- wrk script of bench/gateway: sends the bearer token from SPINE_BENCH_TOKEN on every request
-- and, at the end, prints one line of figures in the same shape as gateway_grpc_load:
--   requests=N seconds=S rps=R p50_ms=X p99_ms=Y errors=E
-- (errors: connect/read/write failures, timeouts and non-2xx/3xx answers, e.g. a 429).
-- The percentiles are wrk's: by the time done() runs, wrk has applied its coordinated-omission
-- correction to the latency histogram (src/stats.c stats_correct), so one stalled request also
-- counts as the requests its connection could have sent meanwhile. gateway_grpc_load computes
-- the direct-gRPC figures the same way.
--
-- bench/compare sets one of these (bench/gateway neither: it GETs the URL it gives wrk):
--   SPINE_BENCH_IDS_FILE=F  GET /api/thoughts/{id}, id drawn at random from F (one a line)
--   SPINE_BENCH_POST=1      POST /api/thoughts with a random text and tags
local token = os.getenv("SPINE_BENCH_TOKEN")
if token == nil or token == "" then
  error("SPINE_BENCH_TOKEN is not set")
end
wrk.headers["Authorization"] = "Bearer " .. token

local ids_file = os.getenv("SPINE_BENCH_IDS_FILE")
local post = os.getenv("SPINE_BENCH_POST") == "1"
local ids = {}
local thread_count = 0

-- Each thread gets its own seed: threads seeded alike would send the same ids in step.
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_index or 0))
  if ids_file ~= nil and ids_file ~= "" then
    for line in io.lines(ids_file) do
      if line ~= "" then ids[#ids + 1] = line end
    end
    if #ids == 0 then error("no ids in " .. ids_file) end
  end
end

-- Defined only for bench/compare's cases: without request() wrk sends one prepared request
-- over and over, which bench/gateway's figures were measured with.
if post or (ids_file ~= nil and ids_file ~= "") then
  -- wrk.format uses the headers it is given instead of wrk.headers: the token goes in too.
  local post_headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(wrk.headers) do post_headers[name] = value end
  function request()
    if post then
      local n = math.random(1, 1000000000)
      local body = string.format(
        '{"text": "bench thought %d: what does a write cost?", "tags": ["bench", "t%d"]}',
        n, n % 16)
      return wrk.format("POST", "/api/thoughts", post_headers, body)
    end
    return wrk.format("GET", "/api/thoughts/" .. ids[math.random(#ids)])
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format("requests=%d seconds=%.2f rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
