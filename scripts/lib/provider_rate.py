"""The rate one provider was called at, from the mock providers' /admin/stats on stdin.

Prints JSON: requests, rate (requests per second between its first and last request),
peak_second (the most requests in one second) and limited_429 (answered 429).
Usage: provider_rate.py NAME
"""
import json
import sys

stats = json.load(sys.stdin).get(sys.argv[1], {})
span_ms = (stats.get("lastMs") or 0) - (stats.get("firstMs") or 0)
requests = stats.get("requests", 0)
rate = (requests - 1) * 1000 / span_ms if span_ms > 0 else 0
print(json.dumps({
    "requests": requests,
    "rate": round(rate, 2),
    "peak_second": stats.get("peakPerSecond", 0),
    "limited_429": stats.get("limited", 0),
}))
