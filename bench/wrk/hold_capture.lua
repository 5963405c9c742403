-- POST /api/holds then POST /api/holds/{id}/capture: a random user holds 0.01..0.99 from one of
-- its own accounts for any other account of the pool, and its next request on this thread
-- captures it (every hold is captured once; the report counts both requests).
-- wrk ... -s hold_capture.lua URL -- <users file> <nonce>
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

local count_response = response
local held = {} -- {id, token} of holds created on this thread and not yet captured

local token_of = {} -- account id -> its owner's token: the capture is made by the hold's creator

function init(args)
   users, all = read_users(args[1])
   for _, user in ipairs(users) do
      for _, account in ipairs(user.accounts) do
         token_of[account] = user.token
      end
   end
   nonce = args[2]
   seed_random()
end

local function headers(token)
   return {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end

function request()
   local ready = table.remove(held, 1)
   if ready then
      return wrk.format("POST", "/api/holds/" .. ready.id .. "/capture", headers(ready.token),
         '{"idempotencyKey":"' .. next_key() .. '"}')
   end
   local user = users[math.random(#users)]
   local source = user.accounts[math.random(#user.accounts)]
   local target = source
   while target == source do
      target = all[math.random(#all)]
   end
   local body = '{"fromAccount":"' .. source .. '","toAccount":"' .. target .. '","amount":"' .. small_amount() ..
      '","idempotencyKey":"' .. next_key() .. '"}'
   return wrk.format("POST", "/api/holds", headers(user.token), body)
end

function response(status, headers_, body)
   count_response(status, headers_, body)
   -- A new hold's answer starts with its message; a capture's carries the transaction too.
   if status ~= 201 then
      return
   end
   local id, source = string.match(body, '^{"message":"Hold created[^"]*","hold":{"id":"([%x%-]+)","fromAccount":"([%x%-]+)"')
   if id then
      table.insert(held, {id = id, token = token_of[source]})
   end
end
