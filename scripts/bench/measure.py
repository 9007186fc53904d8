#!/usr/bin/python3
"""measure.py -- run a command; print its wall time and peak resident memory as JSON.

Usage: measure.py COMMAND [ARG...]   (prints {"seconds": s, "peak_rss_mb": m, "status": n})
"""
import json
import resource
import subprocess
import sys
import time

start = time.monotonic()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seconds = time.monotonic() - start
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mb": round(peak_kb / 1024, 1),
                  "status": status}))
