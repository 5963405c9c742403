-- POST /api/transactions/batch: a random user sends <size> transfers of 0.01..0.99 in one
-- request (atomic), each from one of its own accounts to any other account of the pool, with a
-- fresh idempotency key. Throughput in transfers is requests x size (bench/run.py's per_request).
-- wrk ... -s batch.lua URL -- <users file> <nonce> <size>
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

function init(args)
   users, all = read_users(args[1])
   nonce = args[2]
   size = tonumber(args[3])
   seed_random()
end

function request()
   local user = users[math.random(#users)]
   local items = {}
   for i = 1, size do
      local source = user.accounts[math.random(#user.accounts)]
      local target = source
      while target == source do
         target = all[math.random(#all)]
      end
      items[i] = '{"fromAccount":"' .. source .. '","toAccount":"' .. target .. '","amount":"' .. small_amount() .. '"}'
   end
   local body = '{"idempotencyKey":"' .. next_key() .. '","transfers":[' .. table.concat(items, ",") .. ']}'
   return wrk.format("POST", "/api/transactions/batch",
      {["Authorization"] = "Bearer " .. user.token, ["Content-Type"] = "application/json"}, body)
end
