"""Targets of the feature store and the printed results table."""

from __future__ import annotations

from typing import Any

ONLINE_READ_MAX_P99_RATIO = 1.5
ONLINE_WRITE_MIN_SHARE = 0.5
HISTORICAL_MIN_SPEEDUP = 10.0
HISTORICAL_TARGET_ROWS = 100_000
MATERIALIZE_MIN_SPEEDUP = 5.0
INGEST_MIN_READINGS_PER_S = 50_000
FRESHNESS_RATE = 10_000
FRESHNESS_MAX_P99_S = 1.0


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare the measured figures with each target; return one verdict per target and case."""
    verdicts: list[dict[str, Any]] = []
    for case in results["online_read"]:
        ratio = case["p99_ratio"]
        verdicts.append(_verdict(
            f"online read p99 <= {ONLINE_READ_MAX_P99_RATIO}x raw ({case['case']})",
            ratio <= ONLINE_READ_MAX_P99_RATIO,
            f"{ratio:.1f}x raw p99 ({case['p99_ratio_gc_frozen']:.1f}x with gc.freeze())",
        ))
        lean_ratio = case["lean_p99_ratio"]
        verdicts.append(_verdict(
            f"online read p99 <= {ONLINE_READ_MAX_P99_RATIO}x raw (OnlineReader, {case['case']})",
            lean_ratio <= ONLINE_READ_MAX_P99_RATIO,
            f"{lean_ratio:.2f}x raw p99 ({case['lean_p50_ratio']:.2f}x at p50)",
        ))
    for case in results["online_write"]:
        for key, label in (
            ("push_share_of_raw", "store.push ONLINE"),
            ("both_share_of_raw", "push_to_both_stores"),
            ("lean_share_of_raw", "OnlineWriter"),
        ):
            share = case[key]
            verdicts.append(_verdict(
                f"online write >= {ONLINE_WRITE_MIN_SHARE:.0%} of raw HSET ({label}, {case['case']})",
                share >= ONLINE_WRITE_MIN_SHARE, f"{share:.0%} of raw",
            ))
    historical = results["historical"]
    largest = max(historical, key=lambda case: case["entity_rows"])
    speedup = largest["speedup_vs_stock"]
    note = "" if largest["entity_rows"] >= HISTORICAL_TARGET_ROWS else " (measured at a smaller size than the target's)"
    verdicts.append(_verdict(
        f"historical >= {HISTORICAL_MIN_SPEEDUP:.0f}x faster than stock at {HISTORICAL_TARGET_ROWS:,} rows",
        speedup >= HISTORICAL_MIN_SPEEDUP,
        f"{speedup:.2f}x at {largest['entity_rows']:,} rows{note}",
    ))
    speedup = results["materialize"]["plugin_vs_stock_speedup"]
    verdicts.append(_verdict(
        f"materialize >= {MATERIALIZE_MIN_SPEEDUP:.0f}x faster than stock",
        speedup >= MATERIALIZE_MIN_SPEEDUP,
        f"{speedup:.2f}x ({results['materialize']['pull_latest_vs_stock_speedup']:.2f}x with pull_latest_features)",
    ))
    verdicts += _ingest_verdicts(results["ingest"])
    return verdicts


def _ingest_verdicts(ingest: dict[str, Any]) -> list[dict[str, Any]]:
    verdicts = []
    for label in ("features_off", "features_on"):
        rate = ingest[label]["readings_per_s"]
        verdicts.append(_verdict(
            f"ingest >= {INGEST_MIN_READINGS_PER_S:,} readings/s ({label.replace('_', ' ')})",
            rate >= INGEST_MIN_READINGS_PER_S,
            f"{rate:,.0f} readings/s ({rate / INGEST_MIN_READINGS_PER_S:.1%} of the target; "
            f"raw consume {ingest['raw_consume']['readings_per_s']:,.0f}/s)",
        ))
    offered = ingest["freshness"][0]
    note = "" if offered["offered_rate"] >= FRESHNESS_RATE else f" (offered {offered['offered_rate']:,.0f}/s, below the target's rate)"
    if not offered["kept_up"]:
        measured = f"fell behind: sustained {offered['sustained_readings_per_s']:,.0f} readings/s"
    else:
        measured = f"p99 {offered['p99_s']:.2f} s"
    verdicts.append(_verdict(
        f"freshness p99 <= {FRESHNESS_MAX_P99_S:.0f} s at {FRESHNESS_RATE:,} readings/s",
        offered["kept_up"] and offered["offered_rate"] >= FRESHNESS_RATE and offered["p99_s"] <= FRESHNESS_MAX_P99_S,
        measured + note,
    ))
    return verdicts


def _verdict(target: str, met: bool, measured: str) -> dict[str, Any]:
    return {"target": target, "met": met, "measured": measured}


def format_table(results: dict[str, Any]) -> str:
    """Render the headline figures as a plain-text table."""
    rows: list[tuple[str, str, str, str]] = []
    for case in results["online_read"]:
        rows.append((
            "online read", case["case"],
            f"Feast p50 {case['feast']['p50_ms']:.2f} / p99 {case['feast']['p99_ms']:.2f} ms; "
            f"gc frozen p99 {case['feast_gc_frozen']['p99_ms']:.2f} ms",
            f"raw p50 {case['raw_hmget']['p50_ms']:.2f} / p99 {case['raw_hmget']['p99_ms']:.2f} ms",
        ))
        rows.append((
            "online read (OnlineReader)", case["case"],
            f"lean p50 {case['lean_reader']['p50_ms']:.2f} / p99 {case['lean_reader']['p99_ms']:.2f} ms",
            f"raw p50 {case['raw_hmget']['p50_ms']:.2f} / p99 {case['raw_hmget']['p99_ms']:.2f} ms",
        ))
    for case in results["online_write"]:
        rows.append((
            "online write", case["case"],
            f"push {case['feast_push_online']['median_rows_per_s']:,.0f} rows/s, "
            f"both {case['push_to_both_stores']['median_rows_per_s']:,.0f} rows/s",
            f"raw HSET {case['raw_pipelined_hset']['median_rows_per_s']:,.0f} rows/s",
        ))
        rows.append((
            "online write (OnlineWriter)", case["case"],
            f"lean {case['lean_writer']['median_rows_per_s']:,.0f} rows/s",
            f"raw HSET {case['raw_pipelined_hset']['median_rows_per_s']:,.0f} rows/s",
        ))
    for case in results["historical"]:
        rows.append((
            "historical", case["case"],
            f"plugin {case['plugin']['median_s']:.2f} s (mismatch {max(case['plugin']['mismatched_rows'])}), "
            f"stock {case['stock_feast']['median_s']:.2f} s (mismatch {max(case['stock_feast']['mismatched_rows'])})",
            f"merge_asof {case['oracle_merge_asof']['median_s']:.2f} s",
        ))
    materialize = results["materialize"]
    rows.append((
        "materialize", materialize["case"],
        f"plugin {materialize['plugin']['median_s']:.2f} s, stock {materialize['stock_feast']['median_s']:.2f} s, "
        f"pull_latest_features {materialize['plugin_pull_latest_features']['median_s']:.2f} s",
        f"DISTINCT ON {materialize['raw_distinct_on']['median_s']:.3f} s",
    ))
    write = results["offline_write"]
    rows.append((
        "offline write", write["case"],
        f"plugin {write['plugin_write_arrow_table']['median_rows_per_s']:,.0f} rows/s",
        f"raw COPY {write['raw_copy']['median_rows_per_s']:,.0f} rows/s",
    ))
    imports = results["import_time"]
    rows.append((
        "import feast", imports["case"],
        f"{imports['import_feast']['median_s']:.2f} s",
        f"bare interpreter {imports['bare_interpreter']['median_s']:.2f} s",
    ))
    memory = results["peak_memory"]
    rows.append((
        "peak memory", memory["case"],
        f"max RSS plugin {memory['plugin']['max_rss_mib']:.0f} / stock {memory['stock_feast']['max_rss_mib']:.0f} MiB; "
        f"traced peak {memory['plugin']['tracemalloc_peak_mib']:.0f} / {memory['stock_feast']['tracemalloc_peak_mib']:.0f} MiB",
        f"no retrieval {memory['baseline_no_retrieval']['max_rss_mib']:.0f} MiB",
    ))

    ingest = results["ingest"]
    for label in ("features_off", "features_on"):
        case = ingest[label]
        stages = sorted(case["stages"].items(), key=lambda item: -item[1]["share"])[:3]
        rows.append((
            f"ingest ({label.replace('_', ' ')})", ingest["case"],
            f"{case['readings_per_s']:,.0f} readings/s; top stages "
            + ", ".join(f"{name} {stage['share']:.0%}" for name, stage in stages),
            f"raw consume {ingest['raw_consume']['readings_per_s']:,.0f}/s",
        ))
    for case in ingest["freshness"]:
        delay = f"p50 {case['p50_s']:.2f} / p99 {case['p99_s']:.2f} s" if "p50_s" in case else "nothing written"
        state = "kept up" if case["kept_up"] else f"fell behind, sustained {case['sustained_readings_per_s']:,.0f}/s"
        rows.append(("ingest freshness", case["case"], f"{delay}; {state}", f"sent {case['sent_per_s']:,.0f}/s"))

    headers = ("area", "case", "measured", "reference")
    widths = [max(len(row[index]) for row in [headers, *rows]) for index in range(4)]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(headers, widths, strict=True))]
    lines.append("-+-".join("-" * width for width in widths))
    lines += [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.append("")
    machine = results["machine"]
    lines.append(
        f"{results['mode']} run, {results['started_at']}, {machine['nproc']} x {machine['cpu_model']}, "
        f"{machine['ram_gib']} GiB RAM"
    )
    for verdict in results["targets"]:
        state = {True: "met", False: "MISSED", None: "n/a"}[verdict["met"]]
        lines.append(f"  [{state}] {verdict['target']}: {verdict['measured']}")
    return "\n".join(lines)
