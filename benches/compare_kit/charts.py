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

PEERS = ["direct", "gateway", "gateway-pingora", "nginx", "haproxy", "traefik"]
COLORS = {"direct": "#999999", "gateway": "#d62728", "gateway-pingora": "#ff9896", "nginx": "#2ca02c", "haproxy": "#1f77b4",
          "traefik": "#9467bd"}


def peers_run(results):
    """The peers of PEERS that were run in any scenario (gateway-pingora only runs when asked for)."""
    return [p for p in PEERS if any(p in by_peer for by_peer in results["scenarios"].values())]


def bars_per_scenario(results, key, peers, title, ylabel, path):
    """One small chart per scenario (each with its own scale), a bar per peer; missing peers are marked."""
    scenarios = [s for s in results["scenarios"] if s != "reload"]
    columns = 4
    rows = (len(scenarios) + columns - 1) // columns
    figure, grid = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
    for axes, scenario in zip(grid.flat, scenarios):
        for position, peer in enumerate(peers):
            row = results["scenarios"][scenario].get(peer, {})
            if row.get(key) is not None:
                axes.bar(position, row[key], color=COLORS[peer])
            else:
                axes.text(position, 0, "missing" if "missing" in row else "-", rotation=90, ha="center",
                          va="bottom", fontsize=8, color=COLORS[peer])
        axes.set_xticks(range(len(peers)), peers, rotation=45, fontsize=8)
        axes.set_title(scenario, fontsize=10)
        axes.tick_params(axis="y", labelsize=8)
        axes.grid(axis="y", alpha=0.3)
    for axes in list(grid.flat)[len(scenarios):]:
        axes.axis("off")
    grid[0][0].set_ylabel(ylabel)
    figure.suptitle(title)
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
    every = sorted({int(c) for points in results.get("latency_by_connections", {}).values() for c in points})
    axes.set_xticks(every, [str(c) for c in every])
    axes.minorticks_off()
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
    shown = peers_run(results)
    bars_per_scenario(results, "rps", [p for p in shown if p != "direct"], f"requests/s with the proxy held to {quota} core (higher is better)",
                      "requests/s", os.path.join(output, "compare-throughput.png"))
    bars_per_scenario(results, "p99_ms", shown, "p99 ms at a constant rate, coordinated omission corrected (lower is better)",
                      "ms", os.path.join(output, "compare-p99.png"))
    latency_by_connections(results, os.path.join(output, "compare-latency-connections.png"))


if __name__ == "__main__":
    main()
