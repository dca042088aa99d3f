"""The comparison's outputs on stdout: every peer's numbers per scenario, the gateway's ratios to each peer, and the targets met or missed."""

PEERS = ["direct", "gateway", "nginx", "haproxy", "traefik"]
RIVALS = ["nginx", "haproxy", "traefik"]


def _number(value, digits=1):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _ratio(ours, theirs):
    if not ours or not theirs:
        return None
    return ours / theirs


def _format_ratio(value):
    return "-" if value is None else f"{value:.2f}x"


# The measured columns: (key, heading, decimals, text width).
COLUMNS = [("rps", "rps @ quota", 0, 11), ("cpu_ms_per_1k", "CPU ms / 1k req", 1, 15), ("rss_mb", "peak RSS MB", 1, 11),
           ("p50_ms", "p50 ms", 2, 7), ("p99_ms", "p99 ms", 2, 7), ("p999_ms", "p99.9 ms", 2, 8),
           ("added_p99_ms", "+p99 vs direct", 2, 14), ("errors", "errors", 0, 6)]


def _peer_rows(results):
    """(scenario, peer, cells or None, missing reason) for every measured scenario and peer, in a fixed order."""
    for scenario, peers in results["scenarios"].items():
        if scenario == "reload":
            continue
        for peer in PEERS:
            row = peers.get(peer)
            if row is not None:
                cells = None if "missing" in row else [_number(row.get(key), digits) for key, _, digits, _ in COLUMNS]
                yield scenario, peer, cells, row.get("missing")


def _reload_line(row):
    if "missing" in row:
        return f"missing: {row['missing'][:90]}"
    return (f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms over {row['reloads']} reloads, "
            f"{row['errors']} failed of {row['requests_ok'] + row['errors']:,} requests")


def peer_table(results):
    """One row per scenario and peer with everything measured; missing peers say why."""
    lines = [f"{'scenario':<14} {'peer':<8} " + " ".join(f"{heading:>{width}}" for _, heading, _, width in COLUMNS)]
    for scenario, peer, cells, missing in _peer_rows(results):
        if cells is None:
            lines.append(f"{scenario:<14} {peer:<8} missing: {missing[:90]}")
        else:
            lines.append(f"{scenario:<14} {peer:<8} " + " ".join(f"{c:>{w}}" for c, (_, _, _, w) in zip(cells, COLUMNS)))
    for peer, row in results["scenarios"].get("reload", {}).items():
        lines.append(f"{'reload':<14} {peer:<8} {_reload_line(row)}")
    return "\n".join(lines)


def ratios(results):
    """The gateway's ratio to each rival per scenario: requests/s (higher is better), CPU per request and p99 (lower is better)."""
    table = {}
    for scenario, peers in results["scenarios"].items():
        ours = peers.get("gateway", {})
        if scenario == "reload" or "missing" in ours:
            continue
        for rival in RIVALS:
            theirs = peers.get(rival)
            if theirs is None or "missing" in theirs:
                continue
            table.setdefault(scenario, {})[rival] = {
                "rps": _ratio(ours.get("rps"), theirs.get("rps")),
                "cpu_per_request": _ratio(ours.get("cpu_ms_per_1k"), theirs.get("cpu_ms_per_1k")),
                "p99": _ratio(ours.get("p99_ms"), theirs.get("p99_ms")),
            }
    return table


def ratio_table(results):
    header = f"{'scenario':<14} " + " ".join(f"{'rps/' + r:>12} {'cpu/' + r:>12} {'p99/' + r:>12}" for r in RIVALS)
    lines = ["gateway / peer (rps: higher is better; cpu per request and p99: lower is better)", header]
    table = ratios(results)
    for scenario, by_rival in table.items():
        cells = []
        for rival in RIVALS:
            values = by_rival.get(rival, {})
            cells += [f"{_format_ratio(values.get(k)):>12}" for k in ("rps", "cpu_per_request", "p99")]
        lines.append(f"{scenario:<14} " + " ".join(cells))
    missing = [s for s, peers in results["scenarios"].items() if "missing" in peers.get("gateway", {})]
    if missing:
        lines.append(f"no ratios where the gateway is missing: {', '.join(missing)}")
    return "\n".join(lines)


def targets(results):
    """The issue's goals as (description, met: bool or None when not measured, what was measured)."""
    scenarios = results["scenarios"]
    one = scenarios.get("1_route", {})
    ours = one.get("gateway", {})
    checks = []

    def compare(description, value, goal, higher_is_better, unit="x"):
        if value is None:
            checks.append((description, None, "not measured"))
        else:
            met = value >= goal if higher_is_better else value <= goal
            checks.append((description, met, f"{value:.2f}{unit}"))

    def rival(name, key):
        row = one.get(name, {})
        return None if "missing" in row or "missing" in ours else _ratio(ours.get(key), row.get(key))

    compare("rps under quota >= 1.1x nginx", rival("nginx", "rps"), 1.1, True)
    compare("rps under quota >= 1.1x haproxy", rival("haproxy", "rps"), 1.1, True)
    compare("rps under quota >= 3x traefik", rival("traefik", "rps"), 3.0, True)
    compare("cpu per request <= 0.9x nginx", rival("nginx", "cpu_ms_per_1k"), 0.9, False)
    compare("p99 at fixed rate <= nginx's", rival("nginx", "p99_ms"), 1.0, False)
    many = scenarios.get("10k_routes", {}).get("gateway", {})
    cost = None if not many.get("rps") or not ours.get("rps") else 1 - many["rps"] / ours["rps"]
    compare("10 000 routes cost <= 10% of throughput", None if cost is None else cost * 100, 10, False, "%")
    reload = scenarios.get("reload", {}).get("gateway", {})
    if "p99_ms" in reload:
        checks.append(("reload p99 <= 50 ms with 0 failed requests", reload["p99_ms"] <= 50 and reload["errors"] == 0,
                       f"p99 {reload['p99_ms']:.1f} ms, {reload['errors']} failed"))
    else:
        checks.append(("reload p99 <= 50 ms with 0 failed requests", None, reload.get("missing", "not measured")))
    return checks


def target_lines(results):
    marks = {True: "met   ", False: "MISSED", None: "n/a   "}
    return "\n".join(f"{marks[met]} {description}: {measured}" for description, met, measured in targets(results))


def markdown(results):
    """The results as Markdown tables (for the README and benches/results/latest.md)."""
    machine = results["machine"]
    settings = results["settings"]
    lines = [f"`{results['command']}` on {results['date'][:10]}: {machine['cpus']} × {machine['cpu_model']}, "
             f"{machine['memory_gib']} GiB, Linux {machine['kernel']}; {results['duration_s'] // 60} min "
             f"{results['duration_s'] % 60} s. Throughput with each proxy held to {settings['quota_cores']} core; "
             f"latency at a constant rate (requests/s: "
             + ", ".join(f"{k} {v}" for k, v in settings["rates"].items()) + ").",
             "",
             "| scenario | peer | " + " | ".join(heading for _, heading, _, _ in COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for scenario, peer, cells, missing in _peer_rows(results):
        cells = cells or [f"missing: {missing[:80]}"] + [""] * (len(COLUMNS) - 1)
        lines.append(f"| {scenario} | {peer} | " + " | ".join(cells) + " |")
    whole = {peer: row.get("rps_whole_machine") for peer, row in results["scenarios"].get("1_route", {}).items()
             if row.get("rps_whole_machine")}
    if whole:
        lines += ["", "Whole machine, 1 route, nothing pinned, no quota (wrk -t2 -c128): "
                  + ", ".join(f"{peer} {rps:,} rps" for peer, rps in whole.items()) + "."]
    reload = results["scenarios"].get("reload", {})
    if reload:
        lines += ["", "| reload: Consul KV write to the first answer from the new route | result |", "|---|---|"]
        lines += [f"| {peer} | {_reload_line(row)} |" for peer, row in reload.items()]
    lines += ["", "| gateway ÷ peer | " + " | ".join(f"rps ÷ {r} | CPU/req ÷ {r} | p99 ÷ {r}" for r in RIVALS) + " |",
              "|---|" + "---|" * (3 * len(RIVALS))]
    for scenario, by_rival in ratios(results).items():
        cells = [_format_ratio(by_rival.get(r, {}).get(k)) for r in RIVALS for k in ("rps", "cpu_per_request", "p99")]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    lines += ["", "| target | result | measured |", "|---|---|---|"]
    for description, met, measured in targets(results):
        lines.append(f"| {description} | {'met' if met else 'missed' if met is False else 'not measured'} | {measured} |")
    return "\n".join(lines) + "\n"
