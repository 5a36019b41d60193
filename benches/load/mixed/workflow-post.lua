-- The mixed row's idempotent workflow POSTs: every request a fresh Idempotency-Key,
-- "$MIX_KEY_PREFIX-<thread>-<n>" (the script sets the prefix unique per run), so each one is a
-- new run of the workflow — never a replay of a stored answer.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"priority":"normal","parameters":{"region":"north"}}'

local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end

local headers, prefix, n = {}, "", 0
function init(args)
    -- wrk.format replaces wrk.headers with the table it is given: copy -H and Content-Type.
    for k, v in pairs(wrk.headers) do headers[k] = v end
    prefix = (os.getenv("MIX_KEY_PREFIX") or tostring(os.time())) .. "-" .. tostring(tid or 0) .. "-"
end

function request()
    n = n + 1
    headers["Idempotency-Key"] = prefix .. n
    return wrk.format(nil, nil, headers)
end
