-- Shared by the bench's wrk scripts (loaded with dofile): numbers each thread, counts responses
-- by status, keeps a few error bodies, and prints one JSON summary line that bench/load.py reads.
-- wrk runs setup() and done() in its main Lua state and init(), request(), response() in each
-- thread's own state, so per-thread tables are collected in done() with thread:get().

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_id", #threads)
end

statuses = {}
error_samples = {}

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if status >= 400 and #error_samples < 3 then
      table.insert(error_samples, status .. " " .. string.sub(body or "", 1, 300))
   end
end

-- "<user>:<id> <id> ..." lines of the data file: a token and that user's accounts.
function read_users(path)
   local users, all = {}, {}
   for line in io.lines(path) do
      local fields = {}
      for field in string.gmatch(line, "%S+") do
         table.insert(fields, field)
      end
      if #fields >= 2 then
         local accounts = {}
         for i = 2, #fields do
            table.insert(accounts, fields[i])
            table.insert(all, fields[i])
         end
         table.insert(users, {token = fields[1], accounts = accounts})
      end
   end
   return users, all
end

-- Fresh idempotency keys: the run's nonce, the thread, and a counter.
local sequence = 0
function next_key()
   sequence = sequence + 1
   return nonce .. "-" .. thread_id .. "-" .. sequence
end

-- An amount from 0.01 to 0.99: accounts are funded far beyond what a run can move.
function small_amount()
   return string.format("0.%02d", math.random(1, 99))
end

function seed_random()
   math.randomseed(os.time() * 1000 + thread_id * 7919 + (tonumber(string.sub(nonce, -6), 16) or 0))
end

local function json_string(text)
   text = string.gsub(text, '[%c"\\]', function(c)
      return string.format("\\u%04x", string.byte(c))
   end)
   return '"' .. text .. '"'
end

function done(summary, latency, requests)
   local counts, samples = {}, {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
         counts[status] = (counts[status] or 0) + count
      end
      for _, sample in ipairs(thread:get("error_samples") or {}) do
         table.insert(samples, json_string(sample))
      end
   end
   local status_parts = {}
   for status, count in pairs(counts) do
      table.insert(status_parts, string.format('"%d":%d', status, count))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
      '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d},' ..
      '"statuses":{%s},"error_samples":[%s]}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.timeout,
      latency.min, latency.mean, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(95),
      latency:percentile(99), latency:percentile(99.9),
      table.concat(status_parts, ","), table.concat(samples, ",")))
end
