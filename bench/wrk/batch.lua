-- wrk load for bench/batch_memory.sh: every request is the same JSON batch of BENCH_ITEMS
-- (default 20) GETs of BENCH_ITEM_URL (default a page of 1,000 profiles). Configured through the
-- environment:
--   BENCH_ITEMS      items per batch (1..20)
--   BENCH_ITEM_URL   each item's url, relative to /beta
--   BENCH_TOKEN      bearer token (optional)
-- The body is built once; no response() callback, so wrk never hands the (large) answers to Lua.
-- done() prints one line "BENCH_RESULT key=value ..." that batch_memory.sh parses.

local items = tonumber(os.getenv("BENCH_ITEMS") or "20")
local url = os.getenv("BENCH_ITEM_URL") or "/security/userSecurityProfiles?$top=1000"
local token = os.getenv("BENCH_TOKEN") or ""

local parts = {}
for i = 1, items do
  parts[#parts + 1] = string.format('{"id":"%d","method":"GET","url":"%s"}', i, url)
end
local body = '{"requests":[' .. table.concat(parts, ",") .. ']}'

local headers = { ["Content-Type"] = "application/json" }
if token ~= "" then headers["Authorization"] = "Bearer " .. token end
local request_text = wrk.format("POST", "/beta/$batch", headers, body)

function request()
  return request_text
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d seconds=%.3f rps=%.2f bytes=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
      .. "max_ms=%.3f bad_status=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
