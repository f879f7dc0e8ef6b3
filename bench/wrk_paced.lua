-- Open-loop pacing for wrk: the same pre-signed request as wrk_request.lua, sent on a fixed
-- schedule of BENCH_RATE requests/s per wrk thread, whatever the responses do.
--
-- wrk calls delay() before each request on each connection; every call claims the next slot of
-- one schedule shared by the thread's connections (slot n is due at start + n / rate) and waits
-- until it is due (wrk's timers count whole milliseconds). A slot claimed after it was due is
-- sent at once and its lateness is recorded: wrk measures latency from the moment a request is
-- written, so "slip" is how much queueing the client did not see (coordinated omission). With
-- enough connections the slip stays near zero and wrk's percentiles are the open-loop latency.
-- done() prints one "PACED key=value ..." line that bench/loadgen.py parses.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

wrk.method = os.getenv("BENCH_METHOD") or "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local rate = tonumber(os.getenv("BENCH_RATE") or "100") -- per thread
local interval = 1000.0 / rate
local start = nil
local slot = 0
slip_max = 0.0 -- globals: read by done() through thread:get()
late = 0
claimed = 0

function delay()
  local now = now_ms()
  if start == nil then
    start = now
  end
  local due = start + slot * interval
  slot = slot + 1
  claimed = slot
  local wait = due - now
  if wait < -1.0 then -- more than a timer tick late
    late = late + 1
    if -wait > slip_max then
      slip_max = -wait
    end
  end
  if wait <= 0 then
    return 0
  end
  return math.floor(wait)
end

function done(summary, latency, requests)
  local slip, lates, slots = 0.0, 0, 0
  for _, thread in ipairs(threads) do
    local s = thread:get("slip_max")
    if s > slip then
      slip = s
    end
    lates = lates + thread:get("late")
    slots = slots + thread:get("claimed")
  end
  local e = summary.errors
  io.write(string.format(
    "PACED requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d"
      .. " status_errors=%d socket_errors=%d slip_max_ms=%.3f late=%d slots=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max, e.status,
    e.connect + e.read + e.write + e.timeout, slip, lates, slots))
end
