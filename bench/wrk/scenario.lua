-- wrk scenario for bench/run.sh; configured through the environment:
--   BENCH_MODE    get | patch | post | list | page | page-gzip
--                 (list: an indexed $filter on userPrincipalName; page: the first 100 profiles,
--                 page-gzip: the same with Accept-Encoding: gzip)
--   BENCH_BASE    collection path, e.g. /beta/security/userSecurityProfiles, /rows, /profiles
--   BENCH_N       number of seeded profiles (ids u0000000 .. u<N-1>), picked uniformly at random
--   BENCH_TOKEN   bearer token (optional)
--   BENCH_TENANT  azureTenantId for POST bodies (optional)
--   BENCH_NONCE   makes POST ids unique across runs
--   BENCH_PREFER  a Prefer header for every request (optional), e.g. return=minimal
-- done() prints one line "BENCH_RESULT key=value ..." that run.sh parses.

local mode = os.getenv("BENCH_MODE") or "get"
local base = os.getenv("BENCH_BASE") or "/"
local n = tonumber(os.getenv("BENCH_N") or "1000")
local token = os.getenv("BENCH_TOKEN") or ""
local tenant = os.getenv("BENCH_TENANT") or ""
local nonce = os.getenv("BENCH_NONCE") or tostring(os.time())

local headers = { ["Content-Type"] = "application/json" }
if token ~= "" then headers["Authorization"] = "Bearer " .. token end
if mode == "page-gzip" then headers["Accept-Encoding"] = "gzip" end
if (os.getenv("BENCH_PREFER") or "") ~= "" then headers["Prefer"] = os.getenv("BENCH_PREFER") end

local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end

local counter = 0
function init(args)
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
end

local function pick()
  return string.format("u%07d", math.random(0, n - 1))
end

local post_template = '{"id":"%s","userPrincipalName":"%s@contoso.com",'
  .. '"displayName":"Posted %s","riskScore":"7",'
  .. (tenant ~= "" and ('"azureTenantId":"' .. tenant .. '",') or "")
  .. '"tags":["HVA","bench"],'
  .. '"accounts":[{"displayName":"Posted %s","riskScore":"7","service":"Azure AD",'
  .. '"signinName":"%s@contoso.com","status":"active"}],'
  .. '"vendorInformation":{"provider":"graphsec-bench","providerVersion":"1.0.0",'
  .. '"subProvider":"load-generator","vendor":"Contoso"}}'

function request()
  counter = counter + 1
  if mode == "get" then
    return wrk.format("GET", base .. "/" .. pick(), headers)
  elseif mode == "patch" then
    return wrk.format("PATCH", base .. "/" .. pick(), headers,
      '{"displayName":"patched ' .. counter .. '"}')
  elseif mode == "post" then
    local id = string.format("p%s-%d-%d", nonce, thread_no or 0, counter)
    return wrk.format("POST", base, headers, string.format(post_template, id, id, id, id, id))
  elseif mode == "page" or mode == "page-gzip" then
    return wrk.format("GET", base .. "?%24top=100", headers)
  elseif mode == "list" then
    return wrk.format("GET", base .. "?%24filter=userPrincipalName%20eq%20%27" .. pick()
      .. "%40contoso.com%27", headers)
  end
  error("unknown BENCH_MODE " .. mode)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
      .. "max_ms=%.3f bad_status=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
