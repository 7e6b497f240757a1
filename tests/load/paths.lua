-- wrk script: GET paths drawn at random from a file, one path a line (`make bench-scale`'s
-- order ids and customers' lists). Usage: wrk -s paths.lua URL -- FILE
local paths = {}

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  math.randomseed(os.time())
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
