-- wrk script: every request is a new, valid consent POST (a unique consent_id), and every
-- response status is counted, so that only 201s are taken as durable successes.
--
--   wrk ... -s consent.lua URL -- <run prefix, 8 hex> <origin> <user agent> <rest> [<rest> ...]
--
-- Each <rest> is a body's tail after the seq (",\"document\":...}"); requests cycle through
-- them. The id is <run prefix>-<thread>-4000-8000-<counter>: unique per run, thread and
-- request, so no request is ever a repeat (which would get 200, not 201).

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix, rests = args[1], {}
  for i = 4, #args do
    rests[#rests + 1] = args[i]
  end
  headers = {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["Origin"] = args[2],
    ["User-Agent"] = args[3],
  }
  counter, statuses = 0, {}
end

function request()
  counter = counter + 1
  local id = string.format("%s-%04x-4000-8000-%012x", prefix, thread_id, counter)
  local body = '{"consent_id":"' .. id .. '","seq":' .. (1 + counter % 5)
    .. rests[1 + counter % #rests]
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%d":%d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests":%d,"duration_us":%d,"statuses":{%s},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, table.concat(parts, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
