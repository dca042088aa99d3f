"""Unit tests of benches/compare's parsing of load-generator output and its targets and ratios (run by scripts/test)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from compare_kit import load, peers, reload, report  # noqa: E402

H2LOAD_OUTPUT = """starting benchmark...
Application protocol: h2
finished in 2.00s, 51210.00 req/s, 3.1MB/s
requests: 102500 total, 102520 started, 102440 done, 102400 succeeded, 40 failed, 30 errored, 10 timeout
status codes: 102380 2xx, 0 3xx, 20 4xx, 0 5xx
"""


def oha_report(statuses, errors, p50=0.0002, p99=0.0007, p999=0.002, seconds=1.0):
    return json.dumps({"summary": {"total": seconds, "requestsPerSec": sum(statuses.values()) / seconds},
                       "statusCodeDistribution": statuses, "errorDistribution": errors,
                       "latencyPercentiles": {"p50": p50, "p99": p99, "p99.9": p999}})


def row(rps, cpu, p99, rate_held=True):
    return {"rps": rps, "cpu_ms_per_1k": cpu, "p99_ms": p99, "p50_ms": p99 / 3, "rss_mb": 10.0, "errors": 0,
            "achieved_rps": 5000 if rate_held else 3000, "rate_held": rate_held}


class ParsersTest(unittest.TestCase):
    def test_wrk_summary_counts_socket_and_status_errors(self):
        out = 'Running 2s test\n{"requests": 50000, "duration_us": 2000000, "errors": 3, "status_errors": 2}\n'
        self.assertEqual(load.parse_wrk(out), {"requests": 50000, "rps": 25000.0, "errors": 5})

    def test_wrk_without_summary_is_an_error_naming_its_output(self):
        with self.assertRaisesRegex(RuntimeError, "connection refused"):
            load.parse_wrk("", "unable to connect: connection refused")

    def test_h2load_counts_succeeded_and_failed_requests(self):
        parsed = load.parse_h2load(H2LOAD_OUTPUT, 2)
        self.assertEqual(parsed, {"requests": 102400, "rps": 51200, "errors": 40})

    def test_h2load_refuses_a_peer_that_fell_back_to_http1(self):
        with self.assertRaisesRegex(RuntimeError, "http/1.1, not h2"):
            load.parse_h2load(H2LOAD_OUTPUT.replace("protocol: h2", "protocol: http/1.1"), 2)

    def test_oha_gives_milliseconds_and_counts_errors_and_non_2xx(self):
        parsed = load.parse_oha(oha_report({"200": 990, "503": 4}, {"connection reset": 6}))
        self.assertEqual(parsed["errors"], 10)
        self.assertAlmostEqual(parsed["p50_ms"], 0.2)
        self.assertAlmostEqual(parsed["p99_ms"], 0.7)
        self.assertAlmostEqual(parsed["p999_ms"], 2.0)

    def test_oha_achieved_rate_counts_only_2xx_over_the_whole_run(self):
        parsed = load.parse_oha(oha_report({"200": 9000, "502": 1000}, {}, seconds=2.0))
        self.assertAlmostEqual(parsed["achieved_rps"], 4500)

    def test_oha_own_deadline_aborts_are_not_failures(self):
        parsed = load.parse_oha(oha_report({"200": 4000}, {"aborted due to deadline": 32, "connection reset": 1}))
        self.assertEqual(parsed["errors"], 1)

    def test_oha_without_a_single_success_is_an_error(self):
        report_text = oha_report({}, {"connection refused": 5}, None, None, None)
        with self.assertRaisesRegex(RuntimeError, "connection refused"):
            load.parse_oha(report_text)

    def test_reload_percentile_is_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(reload.percentile(values, 50), 50)
        self.assertEqual(reload.percentile(values, 99), 99)
        self.assertEqual(reload.percentile([7.0], 99), 7.0)


class TargetsTest(unittest.TestCase):
    def results(self, gateway_rps=60_000, gateway_cpu=8.0, gateway_p99=0.3, many_rps=57_000, reload_row=None):
        return {"scenarios": {
            "1_route": {"gateway": row(gateway_rps, gateway_cpu, gateway_p99), "nginx": row(50_000, 10.0, 0.4),
                        "haproxy": row(45_000, 11.0, 0.5), "traefik": row(10_000, 50.0, 2.0)},
            "10k_routes": {"gateway": row(many_rps, gateway_cpu, gateway_p99)},
            "tls": {"gateway": {"missing": "TLS is not implemented"}, "nginx": row(40_000, 12.0, 0.5)},
            "reload": {"gateway": reload_row or {"p50_ms": 3.0, "p99_ms": 8.0, "errors": 0}},
        }}

    def verdicts(self, results):
        return {description: met for description, met, _ in report.targets(results)}

    def test_every_target_met(self):
        self.assertEqual(set(self.verdicts(self.results()).values()), {True})

    def test_each_target_can_be_missed(self):
        verdicts = self.verdicts(self.results(gateway_rps=25_000, gateway_cpu=20.0, gateway_p99=0.5, many_rps=20_000,
                                              reload_row={"p50_ms": 3.0, "p99_ms": 8.0, "errors": 2}))
        self.assertEqual(set(verdicts.values()), {False})

    def test_missing_peer_is_not_measured_rather_than_met(self):
        results = self.results()
        results["scenarios"]["1_route"]["haproxy"] = {"missing": "exited"}
        del results["scenarios"]["reload"]
        verdicts = self.verdicts(results)
        self.assertIsNone(verdicts["rps under quota >= 1.1x haproxy"])
        self.assertIsNone(verdicts["reload p99 <= 50 ms with 0 failed requests"])

    def test_p99_target_is_not_judged_when_a_peer_did_not_hold_the_rate(self):
        results = self.results()
        results["scenarios"]["1_route"]["nginx"] = row(50_000, 10.0, 0.4, rate_held=False)
        target = next(t for t in report.targets(results) if t[0] == "p99 at fixed rate <= nginx's")
        self.assertEqual(target[1:], (None, "not comparable: nginx did not hold the rate"))

    def test_rates_not_held_are_marked_and_named(self):
        results = self.results()
        results["settings"] = {"rates": {"1_route": 5000}}
        del results["scenarios"]["reload"]
        results["scenarios"]["1_route"]["traefik"] = row(10_000, 50.0, 2.0, rate_held=False)
        self.assertEqual(report.rate_not_held(results), [("1_route", "traefik", 3000, 5000)])
        self.assertIn("1_route traefik 3,000 of 5,000 rps", report.rate_not_held_line(results))
        self.assertIn(" 3,000* ", report.peer_table(results))
        self.assertEqual(report.rate_not_held_line(self.results()), "")

    def test_ratios_skip_scenarios_the_gateway_cannot_serve(self):
        ratios = report.ratios(self.results())
        self.assertNotIn("tls", ratios)
        self.assertAlmostEqual(ratios["1_route"]["nginx"]["rps"], 1.2)
        self.assertAlmostEqual(ratios["1_route"]["traefik"]["cpu_per_request"], 0.16)
        self.assertIn("no ratios where the gateway is missing: tls", report.ratio_table(self.results()))


class PingoraPathTest(unittest.TestCase):
    """gateway-pingora: the same gateway with every request on Pingora's path, reported beside the gateway."""

    def results(self):
        return {"scenarios": {
            "1_route": {"gateway": row(60_000, 8.0, 0.3), "gateway-pingora": row(20_000, 24.0, 0.45),
                        "nginx": row(50_000, 10.0, 0.4)},
            "10k_routes": {"gateway": row(57_000, 8.4, 0.3), "gateway-pingora": {"missing": "exited"},
                           "nginx": row(40_000, 12.0, 0.4)},
        }}

    def test_gain_divides_the_gateway_by_its_pingora_path_where_both_ran(self):
        gain = report.path_gain(self.results())
        self.assertEqual(list(gain), ["1_route"])
        self.assertAlmostEqual(gain["1_route"]["rps"], 3.0)
        self.assertAlmostEqual(gain["1_route"]["cpu_per_request"], 1 / 3)
        self.assertAlmostEqual(gain["1_route"]["p99"], 2 / 3)

    def test_each_of_our_peers_gets_its_ratios_to_the_rivals(self):
        results = self.results()
        self.assertAlmostEqual(report.ratios(results, "gateway-pingora")["1_route"]["nginx"]["cpu_per_request"], 2.4)
        self.assertNotIn("10k_routes", report.ratios(results, "gateway-pingora"))
        text = report.ratio_table(results)
        self.assertIn("gateway-pingora / peer", text)
        self.assertIn("gateway / gateway-pingora", text)
        self.assertIn("no ratios where the gateway-pingora is missing: 10k_routes", text)

    def test_targets_judge_the_gateway_not_its_pingora_path(self):
        results = self.results()
        results["scenarios"]["1_route"]["gateway-pingora"] = row(1, 1000.0, 90.0)
        verdicts = {d: met for d, met, _ in report.targets(results)}
        self.assertTrue(verdicts["cpu per request <= 0.9x nginx"])

    def test_without_gateway_pingora_there_is_no_gain_table(self):
        results = self.results()
        for peer_rows in results["scenarios"].values():
            del peer_rows["gateway-pingora"]
        self.assertEqual(report.path_gain(results), {})
        self.assertNotIn("gateway-pingora", report.ratio_table(results))

    def test_gateway_pingora_runs_only_when_asked_for_right_after_the_gateway(self):
        default = ",".join(p.name for p in peers.PEERS)
        self.assertNotIn("gateway-pingora", peers.select(default))
        self.assertEqual(peers.select("nginx,gateway", gateway_pingora=True), ["gateway", "gateway-pingora", "nginx"])
        self.assertEqual(peers.select("gateway-pingora,direct"), ["direct", "gateway-pingora"])
        with self.assertRaisesRegex(ValueError, "no such peer gatway"):
            peers.select("gatway,nginx")

    def test_only_the_pingora_peer_sets_the_path_switch(self):
        setup = object()
        os.environ[peers.HTTP1_PATH_VARIABLE] = "left over from the shell"
        try:
            self.assertNotIn(peers.HTTP1_PATH_VARIABLE, peers.Gateway(setup).environment())
            self.assertNotIn(peers.HTTP1_PATH_VARIABLE, peers.Nginx(setup).environment())
            self.assertEqual(peers.GatewayPingora(setup).environment()[peers.HTTP1_PATH_VARIABLE], "pingora")
        finally:
            del os.environ[peers.HTTP1_PATH_VARIABLE]


class ChainScenarioTest(unittest.TestCase):
    def test_the_credentials_sent_match_the_hash_every_peer_checks(self):
        import base64
        import hashlib
        user, password = base64.b64decode(peers.CHAIN_AUTHORIZATION.split()[1]).decode().split(":")
        name, stored = peers.CHAIN_HTPASSWD.split(":", 1)
        self.assertEqual(name, user)
        self.assertEqual(stored, "{SHA}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode())

    def test_target_headers_reach_oha(self):
        target = load.Target(8080, path=peers.CHAIN_PATH, headers={"Authorization": "Basic eA=="})
        args = load._oha_args({"oha": "oha"}, target)
        self.assertIn("Authorization: Basic eA==", args)
        self.assertTrue(args[-1].endswith(peers.CHAIN_PATH))


if __name__ == "__main__":
    unittest.main()


if __name__ == "__main__":
    unittest.main()
