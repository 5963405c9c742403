-- POST /api/transactions/system/initial-funds: the system user funds a random account of the
-- pool with 0.01..0.99; every request debits the same system funding account (the hot row).
-- wrk ... -s funding.lua URL -- <users file> <nonce> <system token>
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

function init(args)
   local _
   _, all = read_users(args[1])
   nonce = args[2]
   headers = {["Authorization"] = "Bearer " .. args[3], ["Content-Type"] = "application/json"}
   seed_random()
end

function request()
   local body = '{"toAccount":"' .. all[math.random(#all)] .. '","amount":"' .. small_amount() ..
      '","idempotencyKey":"' .. next_key() .. '"}'
   return wrk.format("POST", "/api/transactions/system/initial-funds", headers, body)
end
