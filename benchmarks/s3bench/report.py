"""Ratios, targets, the printed table and results.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s3bench import scaling

OURS = "s3compat"  # the default cluster: 8 chunk daemons, parity 2
OURS_P0 = "s3compat-p0"  # 6 chunk daemons, parity 0


def is_ours(name: str) -> bool:
    """Our clusters (any layout) are never a peer, and never cut off."""
    return name.startswith(OURS)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool = True
    limit: str | None = None  # "write" or "read": which machine limit it is compared with


METRICS = [
    Metric("boto3_put_mibps", "boto3 PUT (upload_file)", "MiB/s", limit="write"),
    Metric("boto3_get_mibps", "boto3 GET (download_file)", "MiB/s", limit="read"),
    Metric("cli_put_mibps", "aws CLI PUT (s3 cp)", "MiB/s", limit="write"),
    Metric("cli_get_mibps", "aws CLI GET (s3 cp)", "MiB/s", limit="read"),
    Metric("curl_put_mibps", "curl PUT (1 stream)", "MiB/s", limit="write"),
    Metric("curl_get_mibps", "curl GET (1 stream)", "MiB/s", limit="read"),
    Metric("small_put_ops", "4 KiB PUT x16", "ops/s"),
    Metric("small_get_ops", "4 KiB GET x16", "ops/s"),
    Metric("small_head_ops", "4 KiB HEAD x16", "ops/s"),
    Metric("small_delete_ops", "4 KiB DELETE x16", "ops/s"),
    *(
        Metric(
            f"small_{op}_{rank}_ms", f"  4 KiB {op.upper()} {rank}", "ms", higher_is_better=False
        )
        for op in ("put", "get", "head", "delete")
        for rank in ("p50", "p99")
    ),
    *(
        Metric(
            f"small_{op}_{who}cpu_ms",
            f"  4 KiB {op.upper()} {label} CPU/op",
            "ms",
            higher_is_better=False,
        )
        for op in ("put", "get", "head", "delete")
        for who, label in (("", "server"), ("client_", "client"))
    ),
    Metric("list_1k_pages", "ListObjectsV2, 1,000 keys", "pages/s"),
    Metric("list_10k_pages", "ListObjectsV2, 10,000 keys", "pages/s"),
    Metric("rss_big_mib", "peak RSS, big transfers", "MiB", higher_is_better=False),
    Metric("rss_small_mib", "peak RSS, 4 KiB + list", "MiB", higher_is_better=False),
    Metric("rss_big_gateway_mib", "  gateway, big transfers", "MiB", higher_is_better=False),
    Metric("rss_big_chunkd_mib", "  chunkd (all), big transfers", "MiB", higher_is_better=False),
    Metric("rss_small_gateway_mib", "  gateway, 4 KiB + list", "MiB", higher_is_better=False),
    Metric("rss_small_chunkd_mib", "  chunkd (all), 4 KiB + list", "MiB", higher_is_better=False),
]

# (description, metric, compared with: "peer" or "write"/"read" limit, threshold): issue #17's
# goals
TARGETS = [
    ("4 KiB PUT ops/s >= 1.5 x better peer (durable)", "small_put_ops", "peer", 1.5),
    ("4 KiB GET ops/s >= 2 x better peer", "small_get_ops", "peer", 2.0),
    ("boto3 1 GiB GET >= 1.5 x better peer", "boto3_get_mibps", "peer", 1.5),
    ("aws CLI 1 GiB GET >= 1.5 x better peer", "cli_get_mibps", "peer", 1.5),
    ("curl PUT >= 0.8 x fsync-write limit", "curl_put_mibps", "write", 0.8),
    ("curl GET >= 0.4 x min(page-cache read, loopback TCP)", "curl_get_mibps", "read", 0.4),
    ("4 KiB HEAD ops/s >= 2 x better peer", "small_head_ops", "peer", 2.0),
    ("ListObjectsV2 1,000 keys >= 5 x better peer", "list_1k_pages", "peer", 5.0),
    ("boto3 PUT >= 1.3 x better peer", "boto3_put_mibps", "peer", 1.3),
    ("aws CLI PUT >= 1.3 x better peer", "cli_put_mibps", "peer", 1.3),
]
GATEWAY_RSS_TARGET_MIB = 200.0


def limit_value(limits: dict[str, float], kind: str | None) -> float | None:
    if kind == "write":
        return limits.get("fsync_write_mibps")
    if kind == "read" and "page_cache_read_mibps" in limits and "loopback_tcp_mibps" in limits:
        return min(limits["page_cache_read_mibps"], limits["loopback_tcp_mibps"])
    return None


def is_capped(result: dict[str, Any], key: str) -> bool:
    """Whether the figure is an upper bound (the transfer was cut off at the time cap)."""
    return key in result.get("capped", [])


def best_peer(systems: dict[str, Any], metric: Metric) -> tuple[str, float] | None:
    values = [
        (name, result["metrics"][metric.key])
        for name, result in systems.items()
        if not is_ours(name) and metric.key in result.get("metrics", {})
    ]
    if not values:
        return None
    pick = max if metric.higher_is_better else min
    return pick(values, key=lambda item: item[1])


def ratios(
    systems: dict[str, Any], limits: dict[str, float], ours_name: str = OURS
) -> dict[str, dict[str, Any]]:
    """Per metric: the value of our cluster `ours_name` over the better peer's and over the
    machine limit."""
    ours = systems.get(ours_name, {}).get("metrics", {})
    found: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        if metric.key not in ours:
            continue
        entry: dict[str, Any] = {}
        peer = best_peer(systems, metric)
        if peer is not None and peer[1] > 0:
            entry["better_peer"] = peer[0]
            entry["vs_better_peer"] = ours[metric.key] / peer[1]
            if is_capped(systems[peer[0]], metric.key):
                # the peer's figure is an upper bound, so the ratio is a lower bound
                entry["vs_better_peer_is_lower_bound"] = True
        limit = limit_value(limits, metric.limit)
        if limit:
            entry["vs_limit"] = ours[metric.key] / limit
        found[metric.key] = entry
    return found


def targets(
    systems: dict[str, Any],
    limits: dict[str, float],
    found: dict[str, dict[str, Any]],
    layout: str = "",
) -> list[dict[str, Any]]:
    """The goals checked on one of our clusters' ratios (`layout` names it in each line;
    the gateway's RSS goal is checked on the default cluster only)."""
    checked = []
    for description, key, against, threshold in TARGETS:
        description += layout
        entry = found.get(key, {})
        ratio = entry.get("vs_better_peer" if against == "peer" else "vs_limit")
        bound = against == "peer" and entry.get("vs_better_peer_is_lower_bound", False)
        met = None if ratio is None else ratio >= threshold
        checked.append(
            {
                "target": description,
                "ratio": ratio,
                "ratio_is_lower_bound": bound,
                "threshold": threshold,
                # a lower bound under the threshold cannot tell: the peer was cut off
                "met": None if bound and not met else met,
            }
        )
    if layout:
        return checked
    rss = systems.get(OURS, {}).get("metrics", {}).get("rss_big_gateway_mib")
    checked.append(
        {
            "target": f"gateway peak RSS during big transfers < {GATEWAY_RSS_TARGET_MIB:.0f} MiB",
            "value_mib": rss,
            "threshold": GATEWAY_RSS_TARGET_MIB,
            "met": None if rss is None else rss < GATEWAY_RSS_TARGET_MIB,
        }
    )
    return checked


EVENNESS_TARGET = 1.05


def evenness_target(evenness: dict[str, Any] | None) -> dict[str, Any]:
    """Placement's goal: max/min fill of the evenness phase's 9 daemons at most 1.05."""
    spread = (evenness or {}).get("max_over_min")
    return {
        "target": f"max/min fill on 9 daemons, objects of random sizes <= {EVENNESS_TARGET}",
        "value": spread,
        "threshold": EVENNESS_TARGET,
        "met": None if spread is None else spread <= EVENNESS_TARGET,
    }


def _cell(value: float | None, capped: bool = False) -> str:
    if value is None:
        return "-"
    shown = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"
    return f"<={shown}" if capped else shown


def _ratio(value: float | None, lower_bound: bool = False) -> str:
    if value is None:
        return "-"
    return f">={value:.2f}x" if lower_bound else f"{value:.2f}x"


def table(results: dict[str, Any]) -> str:
    systems = results["systems"]
    names = list(systems)
    found = results["ratios"]
    found_p0 = results.get("ratios_p0", {})
    header = f"{'metric':<30} {'unit':<7}" + "".join(f"{n:>12}" for n in names)
    header += f"{'ours/peer':>11}{'ours/limit':>11}{'p0/peer':>9}"
    lines = [header, "-" * len(header)]
    for metric in METRICS:
        values = [systems[n].get("metrics", {}).get(metric.key) for n in names]
        if all(v is None for v in values):
            continue
        entry = found.get(metric.key, {})
        cells = [
            _cell(v, is_capped(systems[n], metric.key)) for n, v in zip(names, values, strict=True)
        ]
        peer_ratio = _ratio(
            entry.get("vs_better_peer"), entry.get("vs_better_peer_is_lower_bound", False)
        )
        lines.append(
            f"{metric.label:<30} {metric.unit:<7}"
            + "".join(f"{cell:>12}" for cell in cells)
            + f"{peer_ratio:>11}{_ratio(entry.get('vs_limit')):>11}"
            + f"{_ratio(found_p0.get(metric.key, {}).get('vs_better_peer')):>9}"
        )
    limits = results["limits"]
    lines += [
        "",
        "machine limits: "
        + ", ".join(
            f"{key.removesuffix('_mibps').replace('_', ' ')} {value:,.0f} MiB/s"
            for key, value in limits.items()
        ),
    ]
    lines += ["", "targets:"]
    for target in results["targets"]:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[target["met"]]
        shown = target.get("ratio")
        if shown is not None:
            figure = _ratio(shown, target.get("ratio_is_lower_bound", False))
        elif target.get("value_mib") is not None:
            figure = _cell(target["value_mib"]) + " MiB"
        elif target.get("value") is not None:
            figure = f"{target['value']:.3f}"
        else:
            figure = "-"  # e.g. no peer ran
        lines.append(f"  [{mark}] {target['target']:<72} measured {figure}")
    lines += redundancy_table(results)
    lines += scaling.table_lines(results)
    if any(result.get("capped") for result in systems.values()):
        lines += [
            "",
            "<= : a peer's transfer cut off at the time cap (figure = size / cap, an upper "
            "bound; nothing to verify); >= : a ratio over such a figure",
        ]
    for name, result in systems.items():
        for note in result.get("notes", []):
            lines.append(f"  {name}: {note}")
        if result.get("status") != "ok":
            lines.append(f"{name}: {result.get('status')}")
        for error in result.get("errors", []):
            lines.append(f"  {name} error: {error}")
    return "\n".join(lines)


def redundancy_table(results: dict[str, Any]) -> list[str]:
    """The parity-2 ratios and their goals, the degraded GETs and the repair rate."""
    goals = results.get("redundancy_goals", [])
    found = results.get("redundancy", {})
    if not goals and not found:
        return []
    meta = results.get("meta", {})
    rounds = results.get("parity_comparison", {}).get("rounds")
    best = f"best of {rounds} interleaved rounds (ABBA)" if rounds else "one measurement each"
    lines = [
        "",
        f"redundancy ({meta.get('big_mib', '?')} MiB objects): s3compat = 8 daemons at parity 2, "
        "s3compat-p0 = 6 at parity 0,",
        f"  {best}; degraded = 2 of 8 daemons stopped, over the better of the healthy GETs "
        f"before the stop and after the repair (each the best of {meta.get('rounds', '?')}):",
        f"  {'ratio':<38}{'MiB/s':>9}{'over':>9}{'ratio':>8}{'goal':>8}",
    ]
    for row in goals:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[row["met"]]
        lines.append(
            f"  {row['ratio_of']:<38}{_cell(row['numerator_mibps']):>9}"
            f"{_cell(row['denominator_mibps']):>9}{_ratio(row['ratio']):>8}"
            f"{'>=' + format(row['goal'], '.1f'):>8}  [{mark}]"
        )
    if "seconds_until_down" in found:
        lines.append(
            f"  stopped (SIGSTOP): {', '.join(found.get('stopped', []))}, holding data pieces of "
            f"the object read; marked down {found['seconds_until_down']:.0f} s after the stop"
        )
    repair = found.get("repair")
    if repair:
        lines += [
            f"  repair: {', '.join(found.get('stopped', []))} declared lost, "
            f"{len(found.get('added', []))} daemons added; `admin repair --wait` rebuilt "
            f"{repair['pieces_rebuilt']} pieces of {repair['repaired']} segments,",
            f"    {repair['bytes_rebuilt'] / 1e6:,.1f} MB in {repair['seconds']:.1f} s = "
            f"{repair['mb_per_s']:,.1f} MB/s ({repair['mib_per_s']:,.1f} MiB/s); the command "
            f"with nothing to repair takes {found.get('noop_repair_seconds', 0):.1f} s",
        ]
    for what, title in (("healthy", "before the stop"), ("degraded", "degraded"),
                        ("healthy_after", "after the repair")):  # fmt: skip
        got = found.get(what)
        if got:
            lines.append(
                f"  GET {title + ':':<18}"
                + ", ".join(f"{k.removesuffix('_get_mibps')} {_cell(v)}" for k, v in got.items())
                + " MiB/s (MD5 checked)"
            )
    if found.get("status", "ok") != "ok":
        lines.append(f"  redundancy phase: {found['status']}")
    for error in found.get("errors", []):
        lines.append(f"  redundancy error: {error}")
    return lines
