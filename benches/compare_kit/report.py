"""The comparison's outputs on stdout: every peer's numbers per scenario, the gateway's ratios to each peer (and to
itself on Pingora's path), the peers that did not hold the fixed rate, and the targets met or missed."""

PEERS = ["direct", "gateway", "gateway-pingora", "nginx", "haproxy", "traefik"]
# Our peers: the gateway as it runs, and the same binary with every request on Pingora's HttpProxy.
OURS = ["gateway", "gateway-pingora"]
RIVALS = ["nginx", "haproxy", "traefik"]
PEER_WIDTH = 15


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
           ("added_p99_ms", "+p99 vs direct", 2, 14), ("achieved_rps", "rps @ fixed rate", 0, 16),
           ("errors", "errors", 0, 6)]


def _cell(row, key, digits):
    """One measured value as text; a fixed rate the peer did not hold is marked with `*`."""
    text = _number(row.get(key), digits)
    return text + "*" if key == "achieved_rps" and row.get("rate_held") is False else text


def _peer_rows(results):
    """(scenario, peer, cells or None, missing reason) for every measured scenario and peer, in a fixed order."""
    for scenario, peers in results["scenarios"].items():
        if scenario == "reload":
            continue
        for peer in PEERS:
            row = peers.get(peer)
            if row is not None:
                cells = None if "missing" in row else [_cell(row, key, digits) for key, _, digits, _ in COLUMNS]
                yield scenario, peer, cells, row.get("missing")


def _reload_line(row):
    if "missing" in row:
        return f"missing: {row['missing'][:90]}"
    return (f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms over {row['reloads']} reloads, "
            f"{row['errors']} failed of {row['requests_ok'] + row['errors']:,} requests")


def peer_table(results):
    """One row per scenario and peer with everything measured; missing peers say why."""
    lines = [f"{'scenario':<14} {'peer':<{PEER_WIDTH}} " + " ".join(f"{heading:>{width}}" for _, heading, _, width in COLUMNS)]
    for scenario, peer, cells, missing in _peer_rows(results):
        if cells is None:
            lines.append(f"{scenario:<14} {peer:<{PEER_WIDTH}} missing: {missing[:90]}")
        else:
            lines.append(f"{scenario:<14} {peer:<{PEER_WIDTH}} "
                         + " ".join(f"{c:>{w}}" for c, (_, _, _, w) in zip(cells, COLUMNS)))
    for peer, row in results["scenarios"].get("reload", {}).items():
        lines.append(f"{'reload':<14} {peer:<{PEER_WIDTH}} {_reload_line(row)}")
    return "\n".join(lines)


RATIO_KEYS = [("rps", "rps"), ("cpu_per_request", "cpu_ms_per_1k"), ("p99", "p99_ms")]


def _row_ratios(ours, theirs):
    """requests/s, CPU per request and p99 of row `ours` divided by row `theirs`."""
    return {name: _ratio(ours.get(key), theirs.get(key)) for name, key in RATIO_KEYS}


def _measured(row):
    return row is not None and "missing" not in row


def ratios(results, ours="gateway"):
    """Peer `ours`'s ratio to each rival per scenario: requests/s (higher is better), CPU per request and p99 (lower is better)."""
    table = {}
    for scenario, peers in results["scenarios"].items():
        if scenario == "reload" or not _measured(peers.get(ours)):
            continue
        for rival in RIVALS:
            if _measured(peers.get(rival)):
                table.setdefault(scenario, {})[rival] = _row_ratios(peers[ours], peers[rival])
    return table


def path_gain(results):
    """Per scenario, the gateway divided by the same gateway on Pingora's path (gateway-pingora): what the lean HTTP/1 path changes."""
    return {scenario: _row_ratios(peers["gateway"], peers["gateway-pingora"])
            for scenario, peers in results["scenarios"].items()
            if scenario != "reload" and _measured(peers.get("gateway")) and _measured(peers.get("gateway-pingora"))}


def _present(results, peer):
    return any(peer in peers for scenario, peers in results["scenarios"].items() if scenario != "reload")


def ratio_table(results):
    """The ratios of each of our peers to each rival, then the lean path's gain over Pingora's, as text."""
    header = f"{'scenario':<14} " + " ".join(f"{'rps/' + r:>12} {'cpu/' + r:>12} {'p99/' + r:>12}" for r in RIVALS)
    lines = []
    for ours in OURS:
        if not _present(results, ours):
            continue
        lines += [f"{ours} / peer (rps: higher is better; cpu per request and p99: lower is better)", header]
        for scenario, by_rival in ratios(results, ours).items():
            cells = []
            for rival in RIVALS:
                values = by_rival.get(rival, {})
                cells += [f"{_format_ratio(values.get(k)):>12}" for k, _ in RATIO_KEYS]
            lines.append(f"{scenario:<14} " + " ".join(cells))
        missing = [s for s, peers in results["scenarios"].items() if "missing" in peers.get(ours, {})]
        if missing:
            lines.append(f"no ratios where the {ours} is missing: {', '.join(missing)}")
        lines.append("")
    gain = path_gain(results)
    if gain:
        lines += ["gateway / gateway-pingora (the lean HTTP/1 path against Pingora's, same binary)",
                  f"{'scenario':<14} {'rps':>12} {'cpu':>12} {'p99':>12}"]
        lines += [f"{scenario:<14} " + " ".join(f"{_format_ratio(values[k]):>12}" for k, _ in RATIO_KEYS)
                  for scenario, values in gain.items()]
    return "\n".join(lines).rstrip("\n")


def rate_not_held(results):
    """(scenario, peer, achieved requests/s, asked rate) for every fixed-rate run below 90 % of its rate."""
    rates = results.get("settings", {}).get("rates", {})
    return [(scenario, peer, row.get("achieved_rps"), rates.get(scenario))
            for scenario, peer_rows in results["scenarios"].items() if scenario != "reload"
            for peer in PEERS if (row := peer_rows.get(peer)) is not None and row.get("rate_held") is False]


def rate_not_held_line(results):
    """One sentence naming the peers whose fixed-rate latency is not at the asked rate, or "" when every peer held it."""
    rows = rate_not_held(results)
    if not rows:
        return ""
    return ("* did not hold the fixed rate, so its p99 is not at that rate: "
            + ", ".join(f"{scenario} {peer} {_number(achieved, 0)} of {_number(rate, 0)} rps"
                        for scenario, peer, achieved, rate in rows) + ".")


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
    unheld = [peer for peer in ("gateway", "nginx") if one.get(peer, {}).get("rate_held") is False]
    if unheld:
        checks.append(("p99 at fixed rate <= nginx's", None, f"not comparable: {' and '.join(unheld)} did not hold the rate"))
    else:
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
    not_held = rate_not_held_line(results)
    if not_held:
        lines += ["", not_held]
    lines += ["", "| scenario | ours ÷ peer | " + " | ".join(f"rps ÷ {r} | CPU/req ÷ {r} | p99 ÷ {r}" for r in RIVALS) + " |",
              "|---|---|" + "---|" * (3 * len(RIVALS))]
    for ours in OURS:
        for scenario, by_rival in ratios(results, ours).items():
            cells = [_format_ratio(by_rival.get(r, {}).get(k)) for r in RIVALS for k, _ in RATIO_KEYS]
            lines.append(f"| {scenario} | {ours} | " + " | ".join(cells) + " |")
    gain = path_gain(results)
    if gain:
        lines += ["", "The lean HTTP/1 path against Pingora's (gateway-pingora: the same binary with GATEWAY_HTTP1_PATH=pingora):",
                  "", "| gateway ÷ gateway-pingora | rps | CPU/req | p99 |", "|---|---|---|---|"]
        lines += [f"| {scenario} | " + " | ".join(_format_ratio(values[k]) for k, _ in RATIO_KEYS) + " |"
                  for scenario, values in gain.items()]
    lines += ["", "| target | result | measured |", "|---|---|---|"]
    for description, met, measured in targets(results):
        lines.append(f"| {description} | {'met' if met else 'missed' if met is False else 'not measured'} | {measured} |")
    return "\n".join(lines) + "\n"
