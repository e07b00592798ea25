"""Worker of bench_pairs.py for the tools that live in the compare venv (bench/.venv-compare).

Runs ONE tool on ONE stack and prints one JSON object on stdout. Only the network
construction is timed (baselines included: every tool computes them from the products'
state vectors); building the asf_search products from the CMR records is not.

    bench/.venv-compare/bin/python bench/compare_worker.py insarhub RECORDS.json
    bench/.venv-compare/bin/python bench/compare_worker.py sbasnetwork RECORDS.json --budget 300
    bench/.venv-compare/bin/python bench/compare_worker.py sbasnetwork RECORDS.json --newest-first

``RECORDS.json`` is a list of CMR items (``{"umm": ..., "meta": ...}``), written by the driver.
Parameters (the driver passes the same values to every tool): maximum temporal baseline
(days), maximum perpendicular baseline (m), and for InSARHub the minimum/maximum degree.

Never contacts the network: InSARHub's first baseline tier downloads precise orbit files
(POEORB) with ``eof.download``; here that download is replaced by "unavailable", so it uses
its second tier, asf_search's state-vector calculation (the documented fallback).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from importlib import metadata
from typing import Any

REPEAT_BELOW_S = 10.0  # runs faster than this are repeated (median of 3)


def products(records: list[dict]) -> list[Any]:
    """asf_search products of the records, sorted by start time (new objects on every call)."""
    from asf_search import ASFSession
    from asf_search.search.search_generator import as_ASFProduct

    session = ASFSession()
    items = [as_ASFProduct({"umm": r["umm"], "meta": r["meta"]}, session=session) for r in records]
    return sorted(items, key=lambda p: (p.properties["startTime"], p.properties["sceneName"]))


def day(product: Any) -> str:
    return str(product.properties["startTime"])[:10]


def run_insarhub(records: list[dict], args: argparse.Namespace) -> dict[str, Any]:
    from insarhub.utils import tool

    # Offline: POEORB "unavailable" -> InSARHub falls back to the products' state vectors.
    tool._ensure_poeorb = lambda scene_name, cache_dir: None
    logging.getLogger("insarhub").setLevel(logging.ERROR)

    def once() -> tuple[float, Any, list[Any]]:
        prods = products(records)
        start = time.perf_counter()
        result = tool.select_pairs(
            prods,
            dt_max=args.max_temporal,
            pb_max=args.max_perp,
            min_degree=args.min_degree,
            max_degree=args.max_degree,
            force_connect=True,
            max_workers=1,
        )
        return time.perf_counter() - start, result, prods

    runs, (pairs, baselines, _scene_bperp), prods = repeat(once)
    date_of = {p.properties["sceneName"]: day(p) for p in prods}
    table = baselines[(0, 0)]
    out = []
    for reference, secondary in pairs:
        dt_days, bperp = table[(reference, secondary)]
        out.append([date_of[reference], date_of[secondary], float(bperp), float(dt_days)])
    return {"runs": runs, "pairs": out, "version": metadata.version("insarhub")}


def run_sbasnetwork(records: list[dict], args: argparse.Namespace) -> dict[str, Any]:
    from asf_search.Pair import Pair
    from asf_search.SBASNetwork import SBASNetwork

    n = len(records)
    candidates = n * (n - 1) // 2
    # SBASNetwork builds a Pair (a baseline calculation) for every one of the n(n-1)/2
    # combinations: measure that cost on a sample first and skip sizes beyond the budget.
    prods = products(records)
    sample = min(candidates, 2000)
    start = time.perf_counter()
    made = 0
    for i in range(n):
        for j in range(i + 1, n):
            if made == sample:
                break
            Pair(prods[i], prods[j])
            made += 1
        if made == sample:
            break
    per_pair = (time.perf_counter() - start) / max(made, 1)
    projected = per_pair * candidates
    result: dict[str, Any] = {
        "version": metadata.version("asf_search"),
        "per_pair_s": per_pair,
        "candidates": candidates,
        "projected_s": projected,
    }
    if projected > args.budget:
        result.update(runs=[], pairs=[], skipped=f"projected {projected:.0f} s > budget {args.budget:.0f} s")
        return result

    def once() -> tuple[float, Any, list[Any]]:
        prods = products(records)
        if args.newest_first:  # the order asf_search.search() returns results in
            prods.reverse()
        start = time.perf_counter()
        network = SBASNetwork.from_search_results(
            prods,
            season=(1, 365),
            perpendicular_baseline=args.max_perp,
            inseason_temporal_baseline=int(args.max_temporal),
            bridge_year_threshold=0,
        )
        return time.perf_counter() - start, network, prods

    runs, network, _prods = repeat(once, again=not args.newest_first)
    out = [
        [day(pair.ref), day(pair.sec), float(pair.perpendicular_baseline), float(pair.temporal_baseline.days)]
        for pair in network.subset_stack
    ]
    result.update(runs=runs, pairs=out, own_components=len(network.connected_substacks))
    return result


def repeat(once, again: bool = True):
    """Run ``once`` (returning seconds, result, products); again twice when it is quick."""
    seconds, result, prods = once()
    runs = [seconds]
    if again and seconds < REPEAT_BELOW_S:
        for _ in range(2):
            seconds, result, prods = once()
            runs.append(seconds)
    return runs, result, prods


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tool", choices=["insarhub", "sbasnetwork"])
    parser.add_argument("records")
    parser.add_argument("--max-temporal", type=float, default=48)
    parser.add_argument("--max-perp", type=float, default=200)
    parser.add_argument("--min-degree", type=int, default=3)
    parser.add_argument("--max-degree", type=int, default=6)
    parser.add_argument(
        "--newest-first", action="store_true", help="SBASNetwork: give the products newest first (one run)"
    )
    parser.add_argument(
        "--budget", type=float, default=600, help="skip when the projected time exceeds this (s)"
    )
    args = parser.parse_args()
    import asf_search

    asf_search.REPORT_ERRORS = False
    with open(args.records, encoding="utf-8") as stream:
        records = json.load(stream)
    runner = run_insarhub if args.tool == "insarhub" else run_sbasnetwork
    result = runner(records, args)
    result["tool"] = args.tool
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
