-- POST /v1/webhooks: two providers, the callback to BENCH_CALLBACK_URL.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"provider":["gas","internet"],"callbackUrl":"' .. os.getenv("BENCH_CALLBACK_URL") .. '"}'
