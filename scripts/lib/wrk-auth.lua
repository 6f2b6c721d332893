-- Every request carries the bench tenant's key (the baseline ignores it, at the same cost
-- of sending it).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_API_KEY")
