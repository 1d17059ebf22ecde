"""Bar chart of results.json: `python chart.py results.json chart.png` (needs only matplotlib)."""

from __future__ import annotations

import json
import sys
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PANELS = [
    (
        "{big} MiB transfers (MiB/s, higher is better)",
        [
            ("boto3_put_mibps", "boto3 PUT"),
            ("boto3_get_mibps", "boto3 GET"),
            ("cli_put_mibps", "CLI PUT"),
            ("cli_get_mibps", "CLI GET"),
            ("curl_put_mibps", "curl PUT"),
            ("curl_get_mibps", "curl GET"),
        ],
    ),
    (
        "4 KiB objects, 16 clients (ops/s, higher is better)",
        [
            ("small_put_ops", "PUT"),
            ("small_get_ops", "GET"),
            ("small_head_ops", "HEAD"),
            ("small_delete_ops", "DELETE"),
        ],
    ),
    (
        "ListObjectsV2 (pages/s, higher is better)",
        [("list_1k_pages", "1,000 keys"), ("list_10k_pages", "10,000 keys")],
    ),
    (
        "peak RSS of the server processes (MiB, lower is better)",
        [("rss_big_mib", "big transfers"), ("rss_small_mib", "4 KiB + list")],
    ),
]
COLOURS = {"s3compat": "#1f77b4", "s3compat-p0": "#9ecae1", "moto": "#ff7f0e", "s3rver": "#2ca02c"}


def _label(value: float, capped: bool = False) -> str:
    if not value:
        return ""
    shown = f"{value:,.0f}" if value >= 10 else f"{value:.2g}"
    return f"<={shown}" if capped else shown


def draw(results: dict[str, Any], path: str) -> None:
    systems = {n: r.get("metrics", {}) for n, r in results["systems"].items()}
    capped = {n: set(r.get("capped", [])) for n, r in results["systems"].items()}
    figure, axes = plt.subplots(2, 2, figsize=(15, 9))
    for axis, (title, metrics) in zip(axes.flat, PANELS, strict=True):
        width = 0.8 / max(1, len(systems))
        for index, (name, values) in enumerate(systems.items()):
            xs = [m + index * width for m in range(len(metrics))]
            heights = [values.get(key, 0.0) for key, _ in metrics]
            cut = [key in capped[name] for key, _ in metrics]
            bars = axis.bar(
                xs,
                heights,
                width,
                label=name,
                color=COLOURS.get(name),
                hatch=["//" if c else "" for c in cut],
            )
            axis.bar_label(
                bars, labels=[_label(h, c) for h, c in zip(heights, cut, strict=True)], fontsize=7
            )
        axis.set_xticks([m + width * (len(systems) - 1) / 2 for m in range(len(metrics))])
        axis.set_xticklabels([label for _, label in metrics])
        axis.set_title(title.format(big=results.get("meta", {}).get("big_mib", "?")), fontsize=10)
        axis.legend(fontsize=8)
    limits = results.get("limits", {})
    big = axes.flat[0]
    tallest = max(
        (v for m in systems.values() for k, v in m.items() if k.endswith("mibps")), default=0.0
    )
    if 0 < limits.get("fsync_write_mibps", 0) < 3 * tallest:  # else it would flatten the bars
        big.axhline(limits["fsync_write_mibps"], color="grey", linestyle="--", linewidth=1)
        big.annotate("fsync write limit", (0, limits["fsync_write_mibps"]), fontsize=7)
    meta = results.get("meta", {})
    title = f"s3compat vs peers: {meta.get('mode', '')} run, {meta.get('when', '')}"
    subtitle = " (shared 2-core machine: compare bars, not absolutes; <= / hatched: a peer's"
    subtitle += " transfer cut off at the time cap, an upper bound)"
    figure.suptitle(title + subtitle, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    with open(sys.argv[1]) as source:
        draw(json.load(source), sys.argv[2])
