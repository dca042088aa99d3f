"""Load generators for benches/compare: wrk (HTTP/1.1 throughput), h2load (HTTP/2 throughput), oha (constant rate, corrected latency)."""

import json
import os
import re
import subprocess

from . import system
from .peers import HOST, HOST_ROUTES


class Target:
    """What one measurement sends: protocol, port, path, and whether Host rotates over the 10 000 routes."""

    def __init__(self, port, tls=False, http2=False, path="/", host=HOST, rotate_hosts=False, new_connections=False,
                 headers=None):
        self.port, self.tls, self.http2, self.path, self.host = port, tls, http2, path, host
        self.rotate_hosts, self.new_connections = rotate_hosts, new_connections
        self.headers = headers or {}

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{self.path}"


def _run(args, timeout, cpus):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)


WRK_SCRIPT = """-- written by benches/compare: sets Host, and prints wrk's summary as one JSON line
local rotate = %(rotate)s
local path = "%(path)s"
wrk.headers["Host"] = "%(fixed_host)s"
%(close)s
%(headers)s
if rotate then
  request = function()
    wrk.headers["Host"] = "r" .. math.random(0, %(last)d) .. ".%(host)s"
    return wrk.format(nil, path)
  end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests": %%d, "duration_us": %%d, "errors": %%d, "status_errors": %%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def wrk(tools, workdir, target, seconds, connections=64, threads=1, cpus=None):
    """Closed-loop HTTP/1.1 load as fast as the target answers: requests/s and errors."""
    script = os.path.join(workdir, "wrk.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT % {"rotate": "true" if target.rotate_hosts else "false", "path": target.path, "host": HOST, "fixed_host": target.host,
                              "last": HOST_ROUTES - 1,
                              "close": 'wrk.headers["Connection"] = "close"' if target.new_connections else "",
                              "headers": "\n".join(f'wrk.headers["{name}"] = "{value}"'
                                                   for name, value in target.headers.items())})
    result = _run([tools["wrk"], f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "-s", script,
                   target.url], seconds + 30, cpus)
    return parse_wrk(result.stdout, result.stderr)


def parse_wrk(stdout, stderr=""):
    """Requests, requests/s and errors (socket errors plus non-2xx/3xx) from our script's summary line."""
    summary = next((json.loads(line) for line in stdout.splitlines() if line.startswith('{"requests"')), None)
    if summary is None:
        raise RuntimeError(f"wrk printed no summary: {stderr.strip() or stdout.strip()}")
    seconds_run = summary["duration_us"] / 1e6
    return {"requests": summary["requests"], "rps": summary["requests"] / seconds_run,
            "errors": summary["errors"] + summary["status_errors"]}


def h2load(tools, target, seconds, connections=16, streams=8, cpus=None):
    """Closed-loop HTTP/2 load (TLS with ALPN h2): requests/s and errors."""
    result = _run([tools["h2load"], "-t1", f"-c{connections}", f"-m{streams}", f"-D{seconds}",
                   "-H", f":authority: {target.host}", target.url], seconds + 30, cpus)
    return parse_h2load(result.stdout, seconds, result.stderr)


def parse_h2load(stdout, seconds, stderr=""):
    """Successful requests per second and failed requests from h2load's report (h2load counts 2xx
    and 3xx answers as succeeded, everything else as failed); refuses a peer that did not speak h2."""
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", stdout)
    protocol = re.search(r"Application protocol: (\S+)", stdout)
    if not done:
        raise RuntimeError(f"h2load printed no summary: {stdout.strip()[-300:]} {stderr.strip()[-300:]}")
    if protocol and protocol.group(1) != "h2":
        raise RuntimeError(f"the peer negotiated {protocol.group(1)}, not h2")
    succeeded, failed = int(done.group(1)), int(done.group(2))
    return {"requests": succeeded, "rps": succeeded / seconds, "errors": failed}


def _oha_args(tools, target):
    """oha's command line for `target`, ending with its URL (TLS goes to the route's name, for SNI)."""
    args = [tools["oha"], "--no-tui", "--output-format", "json", "-t", "5s"]
    url = target.url
    if target.tls:
        url = f"https://{target.host}:{target.port}{target.path}"
        args += ["--insecure", "--connect-to", f"{target.host}:{target.port}:127.0.0.1:{target.port}"]
    else:
        args += ["-H", f"Host: {target.host}"]
    for name, value in target.headers.items():
        args += ["-H", f"{name}: {value}"]
    if target.http2:
        args += ["--http2"]
    if target.new_connections:
        args += ["--disable-keepalive"]
    return args + [url]


# The share of the asked rate a peer must answer for its fixed-rate latency to count as measured at that rate.
RATE_HELD = 0.9


def oha(tools, target, seconds, rate, connections, cpus=None):
    """Constant-rate load with latency measured from each request's scheduled start (coordinated omission
    corrected): percentiles, errors, the 2xx answers per second achieved and whether that held `rate`."""
    args = _oha_args(tools, target)
    args[1:1] = ["-z", f"{seconds}s", "-w", "-c", str(connections), "-q", str(rate), "--latency-correction"]
    result = _run(args, seconds + 30, cpus)
    measured = parse_oha(result.stdout, result.stderr)
    measured["rate_held"] = measured["achieved_rps"] >= RATE_HELD * rate
    return measured


def parse_oha(stdout, stderr=""):
    """Latency percentiles in ms, errors (failed or non-2xx requests) and 2xx answers per second over the
    whole run from oha's JSON report."""
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"oha printed no JSON: {stderr.strip()[-300:]}")
    statuses = report.get("statusCodeDistribution", {})
    ok = sum(count for status, count in statuses.items() if status.startswith("2"))
    # oha itself aborts HTTP/2 requests still open when the duration ends, even with -w: not a failure.
    errors = {e: n for e, n in report.get("errorDistribution", {}).items() if e != "aborted due to deadline"}
    failed = sum(errors.values()) + sum(statuses.values()) - ok
    percentiles = report["latencyPercentiles"]
    if percentiles.get("p50") is None:
        raise RuntimeError(f"no request succeeded ({json.dumps(report.get('errorDistribution'))[:300]})")
    return {"p50_ms": percentiles["p50"] * 1000, "p99_ms": percentiles["p99"] * 1000,
            "p999_ms": percentiles["p99.9"] * 1000, "errors": failed, "achieved_rps": ok / report["summary"]["total"]}


def probe(tools, target):
    """One request through the target: None when it is answered with 2xx, else why not."""
    args = _oha_args(tools, target)
    args[1:1] = ["-n", "1", "-c", "1"]
    result = _run(args, 30, system.LOAD_CPUS)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return f"oha failed: {result.stderr.strip()[-200:]}"
    statuses = report.get("statusCodeDistribution", {})
    if any(status.startswith("2") for status in statuses):
        return None
    if statuses:
        return f"answered status {', '.join(statuses)}"
    errors = "; ".join(report.get("errorDistribution", {}).keys())[:300] or "no answer"
    if target.tls and "InvalidContentType" in errors:
        return f"the port does not speak TLS (the TLS client got: {errors})"
    return errors
