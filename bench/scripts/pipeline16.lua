-- pipeline16: every write carries 16 pipelined "GET /" requests.
-- wrk counts each response, so req/s is responses per second.
local depth = 16

init = function(args)
   local reqs = {}
   for i = 1, depth do
      reqs[i] = wrk.format("GET", "/")
   end
   pipelined = table.concat(reqs)
end

request = function()
   return pipelined
end
