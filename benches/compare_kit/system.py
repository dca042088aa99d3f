"""Processes, CPU pinning, cgroup CPU quotas and /proc readings (CPU time, peak RSS) for benches/compare."""

import os
import platform
import socket
import subprocess
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOAD_CPUS = {0}
PROXY_CPUS = {1}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition, timeout, what):
    """Polls `condition` until it is true; raises RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError as error:
            last_error = error
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def all_cpus():
    return set(range(os.cpu_count() or 1))


def set_affinity(pids, cpus):
    """Pins every thread of every process in `pids` to `cpus` (threads made later inherit it)."""
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                os.sched_setaffinity(int(task), cpus)
            except (ProcessLookupError, PermissionError):
                pass


def process_tree(root):
    """`root` and all its descendants, read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids):
    """User plus system CPU time of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / CLOCK_TICKS


def reset_peak_rss(pids):
    """Restarts the kernel's peak-RSS record (VmHWM) of the processes."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass


def peak_rss_mb(pids):
    """Sum of the processes' peak resident set sizes (VmHWM), in MiB."""
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total_kb += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total_kb / 1024


class CpuQuota:
    """One cgroup of the cpu controller (cgroup v2 `cpu.max`, or v1 CFS quota) for the peer under test."""

    PERIOD_US = 100_000

    def __init__(self, name):
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers") and not os.path.ismount("/sys/fs/cgroup/cpu"):
            parent = "/sys/fs/cgroup/gateway-bench"
            os.makedirs(parent, exist_ok=True)
            self._enable_cpu_controller("/sys/fs/cgroup")
            self._enable_cpu_controller(parent)
            self.path, self.v2 = os.path.join(parent, name), True
        elif os.path.isdir("/sys/fs/cgroup/cpu"):
            self.path, self.v2 = f"/sys/fs/cgroup/cpu/gateway-bench-{name}", False
        else:
            raise RuntimeError("no cgroup cpu controller is mounted: the CPU-quota runs need cgroup v2 or v1 with the cpu controller")
        try:
            os.makedirs(self.path, exist_ok=True)
        except PermissionError:
            raise RuntimeError(f"cannot create the cgroup {self.path}: the CPU-quota runs need root (or a delegated cgroup)")
        self.set(None)

    @staticmethod
    def _enable_cpu_controller(path):
        with open(os.path.join(path, "cgroup.subtree_control")) as f:
            if "cpu" in f.read().split():
                return
        with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
            f.write("+cpu")

    def set(self, cores):
        """Limits the group to `cores` CPUs' worth of time per period; None removes the limit."""
        quota = -1 if cores is None else int(cores * self.PERIOD_US)
        if self.v2:
            with open(os.path.join(self.path, "cpu.max"), "w") as f:
                f.write(f"{'max' if quota < 0 else quota} {self.PERIOD_US}")
        else:
            with open(os.path.join(self.path, "cpu.cfs_period_us"), "w") as f:
                f.write(str(self.PERIOD_US))
            with open(os.path.join(self.path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota))

    def enter(self, pid):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def remove(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def launch(args, log_path, cpus=None, quota=None, env=None):
    """Starts a process with its output in `log_path`, pinned to `cpus` and inside `quota`'s cgroup,
    with the environment `env` (None: this process's)."""

    def prepare():
        if quota is not None:
            quota.enter(os.getpid())
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    log = open(log_path, "ab")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, preexec_fn=prepare, start_new_session=True, env=env)


def stop(process, patience=1.0):
    """Stops a process started by `launch` and every process it started: SIGTERM (nginx and
    HAProxy stop at once and reap their workers), then SIGKILL after `patience` seconds (Pingora
    and Traefik would wait out their grace period; shutdown is not what is measured)."""
    for signal_number, wait in ((15, patience), (9, None)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, signal_number)
            process.wait(wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def machine():
    """Facts about this machine for the results file."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    memory_gib = 0
    try:
        with open("/proc/meminfo") as f:
            memory_gib = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_gib": memory_gib,
            "kernel": platform.release(), "system": platform.platform()}
