-- Replays one pre-signed AWS JSON 1.1 request, set by bench/run.py through the environment:
--   BENCH_METHOD   HTTP method (POST)
--   BENCH_BODY     request body, exactly as signed
--   BENCH_HEADERS  "Name: value" lines separated by "\n" (Host, X-Amz-Date, Authorization, ...)
-- wrk adds Content-Length itself. Only wrk.method/body/headers are set, so wrk builds the
-- request once per thread and replays it: no Lua runs per request.

wrk.method = os.getenv("BENCH_METHOD") or "POST"
wrk.body = os.getenv("BENCH_BODY") or ""

for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.-)%s*$")
  if name then
    wrk.headers[name] = value
  end
end
