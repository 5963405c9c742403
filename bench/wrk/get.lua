-- GET one path, again and again, as one user (a balance, a statement page).
-- wrk ... -s get.lua URL -- <path> <token>
dofile(string.match(debug.getinfo(1, "S").source, "^@(.*/)") .. "common.lua")

function init(args)
   nonce = "get"
   prepared = wrk.format("GET", args[1], {["Authorization"] = "Bearer " .. args[2]})
end

function request()
   return prepared
end
