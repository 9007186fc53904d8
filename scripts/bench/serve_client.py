#!/usr/bin/env python3
"""serve_client.py -- the HTTP client of scripts/bench/serve.

  serve_client.py thumbs URL N   cold then warm latency of N thumbnails
  serve_client.py gallery URL    /gallery + its thumbnails over 6 connections, cold then warm
  serve_client.py pages URL      HTML time of gallery pages: the first, filtered, and 200
                                 pages deep by following the keyset links

URL is the one `curate serve` printed (it carries the token); every request
sends the token cookie, as a browser does after the first page.
"""
import http.client
import re
import statistics
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def connect(url):
    u = urllib.parse.urlparse(url)
    token = urllib.parse.parse_qs(u.query)["token"][0]
    return u.hostname, u.port, {"Cookie": "curate_token=" + token}


def get(conn, path, headers):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise SystemExit(f"{path}: HTTP {r.status}: {body[:200]!r}")
    return body


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def thumbs(url, n):
    host, port, hdr = connect(url)
    conn = http.client.HTTPConnection(host, port)
    page = get(conn, "/gallery?n=500", hdr).decode()
    ids = re.findall(r'data-image="(\d+)"', page)
    # more ids than the flags: the image pages' neighbours are ok images too
    ids += [str(i) for i in range(1, 3 * n) if str(i) not in ids]
    ids = ids[:n]
    for label in ("cold", "warm"):
        ms = []
        for i in ids:
            t = time.perf_counter()
            get(conn, f"/thumb/{i}", hdr)
            ms.append((time.perf_counter() - t) * 1000)
        print(f"thumbnail {label}: n {len(ms)}  p50 {pct(ms, 50):.1f} ms  p95 {pct(ms, 95):.1f} ms  "
              f"max {max(ms):.1f} ms  mean {statistics.mean(ms):.1f} ms")


def gallery(url):
    host, port, hdr = connect(url)
    for label in ("cold", "warm"):
        t = time.perf_counter()
        conn = http.client.HTTPConnection(host, port)
        page = get(conn, "/gallery", hdr).decode()
        html_ms = (time.perf_counter() - t) * 1000
        srcs = re.findall(r'src="(/thumb/[^"]+)"', page)
        conns = [http.client.HTTPConnection(host, port) for _ in range(6)]
        chunks = [srcs[k::6] for k in range(6)]

        def fetch(k):
            for s in chunks[k]:
                get(conns[k], s, hdr)
        with ThreadPoolExecutor(6) as ex:
            list(ex.map(fetch, range(6)))
        total = (time.perf_counter() - t) * 1000
        print(f"gallery page {label}: {len(srcs)} thumbnails, HTML {html_ms:.0f} ms, complete {total:.0f} ms")


def pages(url):
    host, port, hdr = connect(url)
    conn = http.client.HTTPConnection(host, port)

    def timed(path):
        t = time.perf_counter()
        page = get(conn, path, hdr).decode()
        return (time.perf_counter() - t) * 1000, page
    for path in ("/gallery", "/gallery?split=test&status=pending", "/gallery?class=Dress&sort=desc"):
        ms, page = timed(path)
        print(f"page {path}: {ms:.0f} ms, {page.count('data-image=')} cards")
    path, ms_all = "/gallery", []
    for _ in range(200):
        ms, page = timed(path)
        ms_all.append(ms)
        m = re.search(r'class="next" href="([^"]+)"', page)
        if not m:
            break
        path = m.group(1).replace("&amp;", "&")
    print(f"following next links: {len(ms_all)} pages, first {ms_all[0]:.0f} ms, last {ms_all[-1]:.0f} ms, "
          f"p50 {pct(ms_all, 50):.0f} ms, p95 {pct(ms_all, 95):.0f} ms")


if __name__ == "__main__":
    if sys.argv[1] == "thumbs":
        thumbs(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "pages":
        pages(sys.argv[2])
    else:
        gallery(sys.argv[2])
