-- wrk script: each thread sends, in order, its share of pre-encrypted callbacks read from a file.
-- The file has one request a line, "QUERY<TAB>BODY"; line i belongs to thread i % THREADS, so one
-- clerk's messages (which the generator gives to one thread) go out in the order written.
-- Usage: wrk -t T -c C -d S -s callbacks.lua URL -- FILE T
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  queue, sent, wrapped, bad, empty = {}, 0, 0, 0, 0
  local i = 0
  for line in io.lines(path) do
    if i % count == id then
      local tab = line:find("\t", 1, true)
      queue[#queue + 1] = wrk.format("POST", "/wecom/callback?" .. line:sub(1, tab - 1),
        { ["Content-Type"] = "text/xml" }, line:sub(tab + 1))
    end
    i = i + 1
  end
end

function request()
  if id == 0 and not verified then
    -- wrk calls thread 0's request() once before the run to count pipelined requests, and drops it
    verified = true
    return queue[1]
  end
  sent = sent + 1
  if sent > #queue then wrapped = wrapped + 1 end  -- ran out: these are redeliveries of earlier ones
  return queue[(sent - 1) % #queue + 1]
end

function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 elseif #body == 0 then empty = empty + 1 end
end

function done(summary, latency, requests)
  local sent_total, wrapped_total, bad_total, empty_total = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    sent_total = sent_total + t:get("sent")
    wrapped_total = wrapped_total + t:get("wrapped")
    bad_total = bad_total + t:get("bad")
    empty_total = empty_total + t:get("empty")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, ' ..
    '"sent": %d, "wrapped": %d, "non200": %d, "empty": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout,
    sent_total, wrapped_total, bad_total, empty_total))
end
