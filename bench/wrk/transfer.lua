-- POST /api/transactions: a random user moves 0.01..0.99 from one of its own accounts to any
-- other account of the pool, with a fresh idempotency key.
-- wrk ... -s transfer.lua URL -- <users file> <nonce>
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

function init(args)
   users, all = read_users(args[1])
   nonce = args[2]
   seed_random()
end

function request()
   local user = users[math.random(#users)]
   local source = user.accounts[math.random(#user.accounts)]
   local target = source
   while target == source do
      target = all[math.random(#all)]
   end
   local body = '{"fromAccount":"' .. source .. '","toAccount":"' .. target .. '","amount":"' .. small_amount() ..
      '","idempotencyKey":"' .. next_key() .. '"}'
   return wrk.format("POST", "/api/transactions",
      {["Authorization"] = "Bearer " .. user.token, ["Content-Type"] = "application/json"}, body)
end
