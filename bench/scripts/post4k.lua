-- post4k: POST / with a 4 KiB body (wrk adds Content-Length itself).
-- The servers' apps read the whole body, then answer "Hello, World!".
wrk.method = "POST"
wrk.body = string.rep("x", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
