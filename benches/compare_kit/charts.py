"""PNG charts of a benches/compare results file: throughput and p99 per peer per scenario, p99 against connections.

Run as `/usr/bin/python3 -m compare_kit.charts RESULTS.json OUTPUT_DIR` from benches/ (matplotlib is
Debian's python3-matplotlib, which scripts/install-bench-tools installs).
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PEERS = ["direct", "gateway", "nginx", "haproxy", "traefik"]
COLORS = {"direct": "#999999", "gateway": "#d62728", "nginx": "#2ca02c", "haproxy": "#1f77b4", "traefik": "#9467bd"}


def grouped_bars(results, key, title, ylabel, path):
    scenarios = [s for s in results["scenarios"] if s != "reload"]
    width = 0.8 / len(PEERS)
    figure, axes = plt.subplots(figsize=(11, 5))
    for index, peer in enumerate(PEERS):
        xs, heights = [], []
        for position, scenario in enumerate(scenarios):
            row = results["scenarios"][scenario].get(peer, {})
            if row.get(key) is not None:
                xs.append(position + (index - len(PEERS) / 2 + 0.5) * width)
                heights.append(row[key])
            elif "missing" in row:
                axes.text(position + (index - len(PEERS) / 2 + 0.5) * width, 0, "missing", rotation=90,
                          ha="center", va="bottom", fontsize=7, color=COLORS[peer])
        axes.bar(xs, heights, width, label=peer, color=COLORS[peer])
    axes.set_xticks(range(len(scenarios)), scenarios)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def latency_by_connections(results, path):
    figure, axes = plt.subplots(figsize=(7, 5))
    for peer in PEERS:
        points = results.get("latency_by_connections", {}).get(peer, {})
        if points:
            connections = sorted(points, key=int)
            axes.plot([int(c) for c in connections], [points[c] for c in connections], marker="o", label=peer,
                      color=COLORS[peer])
    axes.set_xscale("log", base=2)
    axes.set_xlabel("connections")
    axes.set_ylabel("p99 ms (constant rate, corrected)")
    axes.set_title(f"1 route: p99 against connections at {results['settings']['rates']['1_route']} requests/s")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main():
    results_path, output = sys.argv[1], sys.argv[2]
    with open(results_path) as f:
        results = json.load(f)
    quota = results["settings"]["quota_cores"]
    grouped_bars(results, "rps", f"requests/s with the proxy held to {quota} core", "requests/s",
                 os.path.join(output, "compare-throughput.png"))
    grouped_bars(results, "p99_ms", "p99 latency at a constant rate (coordinated omission corrected)", "ms",
                 os.path.join(output, "compare-p99.png"))
    latency_by_connections(results, os.path.join(output, "compare-latency-connections.png"))


if __name__ == "__main__":
    main()
