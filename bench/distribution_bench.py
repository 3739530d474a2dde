"""Distribution signals: ingest throughput, per-post link cost, and lead
precision/recall on a generated benign platform.

Prints:
* ingest throughput (posts/s) into the SQLite repository, including link
  extraction and canonicalisation of every post;
* link extraction + canonicalisation per post (µs), and the same for
  urllib.parse.urlsplit as a floor for "just split the URL" (no de-obfuscation,
  no canonical form), measured in the same run on the same links;
* detection time, and precision/recall of the leads found vs the planted ones.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from tripline.distribution import (
    DistributionRepository,
    analyze,
    ingest_jsonl,
    load_scan_results,
)
from tripline.distribution.synthetic import generate
from tripline.links import canonicalize, extract_links
from tripline.links.canonical import parse


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--posts-per-account", type=int, default=10)
    ap.add_argument("--rings", type=int, default=20)
    ap.add_argument("--solo", type=int, default=40)
    ap.add_argument("--shared", help="ignored; accepted for `make bench` symmetry")
    args = ap.parse_args()

    t0 = time.perf_counter()
    platform = generate(
        args.accounts,
        posts_per_account=args.posts_per_account,
        n_rings=args.rings,
        ring_size=3,
        n_solo_leads=args.solo,
        seed=args.seed,
    )
    gen_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        data, results = platform.write(Path(tmp) / "platform")
        repo = DistributionRepository(Path(tmp) / "dist.sqlite")
        t0 = time.perf_counter()
        r = ingest_jsonl(repo, data)
        ingest_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_scan_results(repo, results)
        load_s = time.perf_counter() - t0

        texts = [p["text"] + " " + " ".join(p["links"]) for p in platform.posts]
        parse.cache_clear()  # measure real work, not the memo of repeated URLs
        t0 = time.perf_counter()
        n_links = 0
        for text in texts:
            for url in extract_links(text):
                canonicalize(url)
                n_links += 1
        links_s = time.perf_counter() - t0
        raw = [u for t in texts for u in extract_links(t)]
        parse.cache_clear()
        t0 = time.perf_counter()
        for u in raw:
            canonicalize(u)
        canon_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(3):
            for u in raw:
                urlsplit(u)
        split_s = (time.perf_counter() - t0) / 3

        t0 = time.perf_counter()
        analysis = analyze(repo)
        detect_s = time.perf_counter() - t0
        repo.close()

    found = {lead.account_id for lead in analysis.leads}
    truth = platform.planted_leads
    tp = len(found & truth)
    precision = tp / len(found) if found else 1.0
    recall = tp / len(truth) if truth else 1.0
    clusters_ok = sorted(map(sorted, (c.members for c in analysis.clusters))) == sorted(map(sorted, platform.rings))
    n_posts = len(platform.posts)
    print(
        f"platform: {len(platform.accounts)} accounts, {n_posts} posts, {len(platform.media_records)} media records, "
        f"{len(truth)} planted leads in {args.rings} rings + {args.solo} solo (generated in {gen_s:.1f}s)"
    )
    print(
        f"ingest:   {r.posts + r.accounts} records in {ingest_s:.2f}s = {n_posts / ingest_s:,.0f} posts/s "
        f"(incl. link extraction); scan records loaded at {len(platform.media_records) / load_s:,.0f}/s"
    )
    print(
        f"links:    {n_links} links in {n_posts} posts; extraction+canonicalisation {links_s / n_posts * 1e6:.1f} µs/post "
        f"(canonicalisation alone {canon_s / max(len(raw), 1) * 1e6:.1f} µs/link; urllib urlsplit {split_s / max(len(raw), 1) * 1e6:.1f} µs/link)"
    )
    print(
        f"detect:   {detect_s:.2f}s ({n_posts / detect_s:,.0f} posts/s); leads {len(found)}, clusters {len(analysis.clusters)}"
    )
    print(
        f"quality:  precision {precision:.3f}  recall {recall:.3f}  (tp {tp}, fp {len(found - truth)}, fn {len(truth - found)}); "
        f"clusters == planted rings: {clusters_ok}"
    )


if __name__ == "__main__":
    main()
