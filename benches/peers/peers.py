#!/usr/bin/env python3
"""distob's core figures, measured the same way on Ray, Dask and ipyparallel.

Each peer is started here on this machine with two worker processes (Ray: two
CPUs and actors/tasks; Dask: a LocalCluster of two one-thread worker
processes; ipyparallel: a controller and two engines), on 127.0.0.1 only,
measured, and stopped. Each peer runs in a child process of its own
(`peers.py --child NAME`), under an alarm, so that one that fails or hangs
loses only its own cells. Output: one JSON object per line,
`{"peer": P, "figure": F, "unit": U, "value": X}` (or `"error": ...` in place
of the value), then a Markdown table, rows = figures, columns = peers.

The figures, named as in distob's `cargo run --release --example bench`:

  call_rtt_p50_us        median round trip of a tiny method call on a remote
                         object (2,000 calls after 200 untimed; quick: 200/20)
  pipelined_calls_per_s  10,000 calls on that object issued without waiting,
                         then all awaited (quick: 1,000)
  scatter_mb_per_s       a 100 MB float64 array from the driver to one worker
  gather_mb_per_s        and back (quick: 10 MB)
  distarray_sin_sum_s    (sin(x)*2+1).sum() over 10^8 float64 (quick: 10^7)
                         split over the two workers, already placed there
  distarray_xtx_s        X.T @ X for X of 4,000,000 x 16 float64 (quick:
                         400,000 x 16) split by rows over the two workers

The pipelined, transfer and array figures are the median of a few repetitions
after one untimed run. `numpy_1thread` is the same array work on one local thread.
OMP/OpenBLAS/MKL are held to one thread for the whole run, workers included,
as distob's engines are single-threaded.

Run it through run.sh, which makes the venv: `bash benches/peers/run.sh --quick`.
"""

import os

# Before numpy is imported anywhere: one BLAS/OpenMP thread, here and in every
# worker (they inherit the environment).
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"
# No telemetry, nothing but loopback.
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_DISABLE_USAGE_STATS"] = "1"
os.environ["RAY_USAGE_STATS_PROMPT_ENABLED"] = "0"
# Ray turns a node address of 127.0.0.1 into this machine's outward address
# (so that other nodes could reach it) unless told this is a one-machine
# cluster, the setting made for Windows and macOS: with it, every Ray process
# listens on and talks to 127.0.0.1 only.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# Ray's dashboard process asks the cloud metadata services (169.254.169.254,
# metadata.google.internal) which cloud it is on, with usage stats off too;
# any such HTTP request made with `requests`/urllib goes to a dead proxy on
# loopback instead. (Each peer also runs in a network namespace of its own
# with loopback alone where `unshare --net` works, as it does for root.)
for _var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
    os.environ[_var] = "http://127.0.0.1:9"
for _var in ("no_proxy", "NO_PROXY"):
    os.environ[_var] = "127.0.0.1,localhost,::1"
for _var in ("all_proxy", "ALL_PROXY", "grpc_proxy"):
    os.environ.pop(_var, None)

import argparse
import inspect
import json
import logging
import math
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PEERS = ("ray", "dask", "ipyparallel")
BASELINE = "numpy_1thread"

# (figure, unit), in table order.
FIGURES = [
    ("call_rtt_p50_us", "us"),
    ("pipelined_calls_per_s", "calls/s"),
    ("scatter_mb_per_s", "MB/s"),
    ("gather_mb_per_s", "MB/s"),
    ("distarray_sin_sum_s", "s"),
    ("distarray_xtx_s", "s"),
]
UNITS = dict(FIGURES)

# The groups of figures a peer measures, each one method of the peer's class.
GROUPS = [
    ("rtt", ["call_rtt_p50_us"]),
    ("pipelined", ["pipelined_calls_per_s"]),
    ("transfer", ["scatter_mb_per_s", "gather_mb_per_s"]),
    ("sin_sum", ["distarray_sin_sum_s"]),
    ("xtx", ["distarray_xtx_s"]),
]


class Sizes:
    def __init__(self, quick):
        self.quick = quick
        self.rtt_n, self.rtt_warm = (200, 20) if quick else (2_000, 200)
        self.pipe_n = 1_000 if quick else 10_000
        self.big = (10_000_000 if quick else 100_000_000) // 8  # float64s: 10 / 100 MB
        self.sin_n = 10**7 if quick else 10**8
        self.xtx_n = 400_000 if quick else 4_000_000
        self.reps = 2 if quick else 3  # timed repetitions after one untimed


class PeerTimeout(BaseException):
    """The peer's alarm rang (a BaseException, so figure handlers let it by)."""


def emit(peer, figure, value=None, error=None):
    rec = {"peer": peer, "figure": figure, "unit": UNITS[figure]}
    if error is None:
        rec["value"] = round_fig(value)
    else:
        rec["error"] = error
    print(json.dumps(rec), flush=True)


def round_fig(x):
    """Two decimals, or (under 1) three significant digits, as distob's bench."""
    if x == 0 or not math.isfinite(x):
        return x
    if abs(x) >= 1:
        return round(x, 2)
    return float(f"{x:.3g}")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def median_time(fn, reps):
    """One untimed run of fn, then the median of `reps` timed ones, in s."""
    return timed(fn, reps)[0]


def timed(fn, reps):
    """As median_time, with what the last run of fn returned."""
    last = fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        last = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), last


def expected_sin_sum(n, h=1e-7):
    """sum over i < n of sin(i*h)*2 + 1, in closed form (to check the peers)."""
    s = math.sin(n * h / 2) * math.sin((n - 1) * h / 2) / math.sin(h / 2)
    return 2 * s + n


def check_close(name, got, want, rel=1e-6):
    if not abs(got - want) <= rel * max(abs(want), 1.0):
        raise AssertionError(f"{name}: got {got!r}, expected {want!r}")


class Peer:
    """One peer system: its sizes and scratch folder; subclasses start it,
    run the workloads and stop it."""

    def __init__(self, sz, tmp):
        self.sz = sz
        self.tmp = tmp


class Counter:
    """The remote object of the call figures, on every peer."""

    def __init__(self):
        self.n = 0
        self.x = None

    def bump(self, k):
        self.n += k
        return self.n

    def store(self, x):
        self.x = x
        return x.nbytes

    def fetch(self):
        return self.x


# The array work, run where the data is.
def sin_sum_part(x):
    import numpy as np

    return float((np.sin(x) * 2 + 1).sum())


def xtx_part(x):
    return x.T @ x


# --------------------------------------------------------------------------
# Ray: `ray.init` starts a local head (GCS, raylet, object store) with two
# CPUs; calls go to an actor, arrays are `ray.put` into the node's object
# store and worked on by tasks. On one node Ray's object store is shared
# memory: a worker (or the driver, on `ray.get`) maps a numpy array zero-copy
# instead of receiving it over a socket, so the transfer figures measure the
# copy into the store and the call that hands the reference over.
class RayPeer(Peer):
    name = "ray"
    started = False

    def start(self):
        import ray

        self.ray = ray
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        self.started = True
        self.actor = ray.remote(Counter).remote()
        ray.get(self.actor.bump.remote(0))
        self.sin_task = ray.remote(num_cpus=1)(sin_sum_part)
        self.xtx_task = ray.remote(num_cpus=1)(xtx_part)

    def stop(self):
        if self.started:
            self.ray.shutdown()

    def rtt(self):
        ray, a = self.ray, self.actor
        out = []
        for i in range(self.sz.rtt_warm + self.sz.rtt_n):
            t = time.perf_counter()
            ray.get(a.bump.remote(1))
            if i >= self.sz.rtt_warm:
                out.append((time.perf_counter() - t) * 1e6)
        return {"call_rtt_p50_us": statistics.median(out)}

    def pipelined(self):
        ray, a, n = self.ray, self.actor, self.sz.pipe_n

        def once():
            refs = [a.bump.remote(1) for _ in range(n)]
            ray.get(refs)

        return {"pipelined_calls_per_s": n / median_time(once, self.sz.reps)}

    def transfer(self):
        import numpy as np

        ray, a = self.ray, self.actor
        x = np.arange(self.sz.big, dtype=np.float64)
        mb = x.nbytes / 1e6
        up, down = [], []
        for i in range(self.sz.reps + 1):
            ray.get(a.store.remote(np.zeros(1)))  # drop the last one
            t = time.perf_counter()
            # The array goes into the object store and the actor keeps it.
            assert ray.get(a.store.remote(x)) == x.nbytes
            dt_up = time.perf_counter() - t
            t = time.perf_counter()
            y = ray.get(a.fetch.remote())
            dt_down = time.perf_counter() - t
            assert y.shape == x.shape and y[-1] == x[-1]
            del y
            if i > 0:
                up.append(mb / dt_up)
                down.append(mb / dt_down)
        ray.get(a.store.remote(np.zeros(1)))
        return {
            "scatter_mb_per_s": statistics.median(up),
            "gather_mb_per_s": statistics.median(down),
        }

    def sin_sum(self):
        import numpy as np

        ray, n = self.ray, self.sz.sin_n
        x = np.arange(n, dtype=np.float64) * 1e-7
        parts = [ray.put(h) for h in np.array_split(x, 2)]  # placed: not timed
        del x
        s, last = timed(lambda: sum(ray.get([self.sin_task.remote(p) for p in parts])), self.sz.reps)
        check_close("sin_sum", last, expected_sin_sum(n))
        del parts
        return {"distarray_sin_sum_s": s}

    def xtx(self):
        import numpy as np

        ray = self.ray
        x = np.random.default_rng(0).standard_normal((self.sz.xtx_n, 16))
        parts = [ray.put(h) for h in np.array_split(x, 2)]
        s, last = timed(lambda: sum(ray.get([self.xtx_task.remote(p) for p in parts])), self.sz.reps)
        assert np.allclose(last, x.T @ x)
        del parts
        return {"distarray_xtx_s": s}


# --------------------------------------------------------------------------
# Dask: a LocalCluster of two worker processes with one thread each, no
# dashboard, on 127.0.0.1. Calls go to a Dask Actor (`submit(..., actor=True)`),
# whose method calls go straight to the worker holding it; transfers are
# `client.scatter(workers=[w])` / `client.gather`, both with the client's
# defaults (they go by way of the scheduler); arrays are dask.array
# collections of two chunks persisted on the workers.
class DaskPeer(Peer):
    name = "dask"
    cluster = client = None

    def start(self):
        from dask.distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=os.path.join(self.tmp, "dask"),
            silence_logs=logging.WARNING,
        )
        self.client = Client(self.cluster)
        self.client.wait_for_workers(2, timeout=120)
        self.workers = sorted(self.client.scheduler_info()["workers"])
        self.actor = self.client.submit(Counter, actor=True).result()
        self.actor.bump(0).result()

    def stop(self):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def rtt(self):
        a = self.actor
        out = []
        for i in range(self.sz.rtt_warm + self.sz.rtt_n):
            t = time.perf_counter()
            a.bump(1).result()
            if i >= self.sz.rtt_warm:
                out.append((time.perf_counter() - t) * 1e6)
        return {"call_rtt_p50_us": statistics.median(out)}

    def pipelined(self):
        a, n = self.actor, self.sz.pipe_n

        def once():
            futs = [a.bump(1) for _ in range(n)]
            for f in futs:
                f.result()

        return {"pipelined_calls_per_s": n / median_time(once, self.sz.reps)}

    def transfer(self):
        import numpy as np

        c = self.client
        x = np.arange(self.sz.big, dtype=np.float64)
        mb = x.nbytes / 1e6
        up, down = [], []
        for i in range(self.sz.reps + 1):
            t = time.perf_counter()
            # hash=False: a fresh key each time, so no repetition is deduplicated.
            fut = c.scatter(x, workers=[self.workers[0]], hash=False)
            dt_up = time.perf_counter() - t
            t = time.perf_counter()
            y = c.gather(fut)
            dt_down = time.perf_counter() - t
            assert y.shape == x.shape and y[-1] == x[-1]
            del y
            fut.release()
            del fut
            if i > 0:
                up.append(mb / dt_up)
                down.append(mb / dt_down)
        return {
            "scatter_mb_per_s": statistics.median(up),
            "gather_mb_per_s": statistics.median(down),
        }

    def _placed(self, x):
        """Persists x and checks that its two chunks are on the two workers."""
        from dask.distributed import wait

        x = x.persist()
        wait(x)
        where = self.client.who_has(x)
        holders = {w for ws in where.values() for w in ws}
        if len(holders) != 2:
            log(f"dask: warning: the chunks are on {sorted(holders)}; rebalancing")
            self.client.rebalance(x)
        return x

    def sin_sum(self):
        import dask.array as da

        n = self.sz.sin_n
        x = self._placed(da.arange(n, chunks=n // 2, dtype="f8") * 1e-7)
        s, last = timed(lambda: float((da.sin(x) * 2 + 1).sum().compute()), self.sz.reps)
        check_close("sin_sum", last, expected_sin_sum(n))
        del x
        return {"distarray_sin_sum_s": s}

    def xtx(self):
        import dask.array as da

        n = self.sz.xtx_n
        rng = da.random.default_rng(0)
        x = self._placed(rng.standard_normal((n, 16), chunks=(n // 2, 16)))
        s, r = timed(lambda: (x.T @ x).compute(), self.sz.reps)
        assert r.shape == (16, 16) and abs(r.trace() / (16 * n) - 1) < 0.01
        del x
        return {"distarray_xtx_s": s}


# --------------------------------------------------------------------------
# ipyparallel: `ipp.Cluster(n=2)` starts a controller and two engines on
# 127.0.0.1. The tiny call is the idiomatic remote-object form there: a
# Counter instance lives in engine 0's namespace (made with `execute`) and
# `view.apply_sync(bump, 1)` runs an `@interactive` function calling its
# method. Transfers are `view.push` / `view.pull`; arrays are split over the
# engines with `DirectView.scatter` and worked on with `apply_sync`.
class IppPeer(Peer):
    name = "ipyparallel"
    cluster = rc = None

    def start(self):
        # Profiles and connection files go to this run's scratch folder.
        os.environ["IPYTHONDIR"] = os.path.join(self.tmp, "ipython")
        import ipyparallel as ipp

        self.ipp = ipp
        self.cluster = ipp.Cluster(
            n=2, controller_ip="127.0.0.1", log_level=logging.WARNING
        )
        self.rc = self.cluster.start_and_connect_sync()
        self.rc.wait_for_engines(2, timeout=120)
        self.e0 = self.rc[0]
        self.dv = self.rc[:]
        self.e0.execute(inspect.getsource(Counter) + "\ncounter = Counter()\n", block=True)

        @ipp.interactive
        def bump(k):
            return counter.bump(k)  # noqa: F821 (the engine's global)

        @ipp.interactive
        def sin_sum_here():
            return sin_sum_part(x)  # noqa: F821

        @ipp.interactive
        def xtx_here():
            return xtx_part(X)  # noqa: F821

        self.bump, self.sin_sum_here, self.xtx_here = bump, sin_sum_here, xtx_here
        self.dv.push({"sin_sum_part": sin_sum_part, "xtx_part": xtx_part}, block=True)
        assert self.e0.apply_sync(bump, 0) == 0

    def stop(self):
        if self.rc is not None:
            self.rc.close()
        if self.cluster is not None:
            self.cluster.stop_cluster_sync()

    def rtt(self):
        e0, bump = self.e0, self.bump
        out = []
        for i in range(self.sz.rtt_warm + self.sz.rtt_n):
            t = time.perf_counter()
            e0.apply_sync(bump, 1)
            if i >= self.sz.rtt_warm:
                out.append((time.perf_counter() - t) * 1e6)
        return {"call_rtt_p50_us": statistics.median(out)}

    def pipelined(self):
        e0, bump, n = self.e0, self.bump, self.sz.pipe_n

        def once():
            ars = [e0.apply_async(bump, 1) for _ in range(n)]
            for ar in ars:
                ar.get()

        return {"pipelined_calls_per_s": n / median_time(once, self.sz.reps)}

    def transfer(self):
        import numpy as np

        e0 = self.e0
        x = np.arange(self.sz.big, dtype=np.float64)
        mb = x.nbytes / 1e6
        up, down = [], []
        for i in range(self.sz.reps + 1):
            t = time.perf_counter()
            e0.push({"x": x}, block=True)
            dt_up = time.perf_counter() - t
            t = time.perf_counter()
            y = e0.pull("x", block=True)
            dt_down = time.perf_counter() - t
            assert y.shape == x.shape and y[-1] == x[-1]
            del y
            e0.execute("del x", block=True)
            if i > 0:
                up.append(mb / dt_up)
                down.append(mb / dt_down)
        return {
            "scatter_mb_per_s": statistics.median(up),
            "gather_mb_per_s": statistics.median(down),
        }

    def sin_sum(self):
        import numpy as np

        n, dv = self.sz.sin_n, self.dv
        x = np.arange(n, dtype=np.float64) * 1e-7
        dv.scatter("x", x, block=True)  # half on each engine: not timed
        del x
        s, last = timed(lambda: sum(dv.apply_sync(self.sin_sum_here)), self.sz.reps)
        check_close("sin_sum", last, expected_sin_sum(n))
        dv.execute("del x", block=True)
        return {"distarray_sin_sum_s": s}

    def xtx(self):
        import numpy as np

        dv = self.dv
        x = np.random.default_rng(0).standard_normal((self.sz.xtx_n, 16))
        dv.scatter("X", x, block=True)  # split by rows
        s, last = timed(lambda: sum(dv.apply_sync(self.xtx_here)), self.sz.reps)
        assert np.allclose(last, x.T @ x)
        dv.execute("del X", block=True)
        return {"distarray_xtx_s": s}


IMPLS = {"ray": RayPeer, "dask": DaskPeer, "ipyparallel": IppPeer}


# --------------------------------------------------------------------------
def run_child(name, sz, timeout, tmp):
    """Measures one peer (in this process), printing its JSON lines."""

    def ring(signum, frame):
        raise PeerTimeout(f"{name}: no result within {timeout} s")

    def term(signum, frame):
        raise PeerTimeout(f"{name}: terminated")

    signal.signal(signal.SIGALRM, ring)
    signal.signal(signal.SIGTERM, term)
    peer = IMPLS[name](sz, tmp)
    done = set()
    signal.alarm(timeout)
    try:
        log(f"{name}: starting")
        t = time.perf_counter()
        peer.start()
        log(f"{name}: started in {time.perf_counter() - t:.1f} s")
        for method, figures in GROUPS:
            t = time.perf_counter()
            try:
                got = getattr(peer, method)()
            except Exception as e:  # not PeerTimeout: that ends the peer
                log(f"{name}: {method} failed:\n{traceback.format_exc()}")
                for f in figures:
                    emit(name, f, error=f"{type(e).__name__}: {e}")
                    done.add(f)
                continue
            log(f"{name}: {method} took {time.perf_counter() - t:.1f} s")
            for f in figures:
                emit(name, f, got[f])
                done.add(f)
    except BaseException as e:
        log(f"{name}: failed:\n{traceback.format_exc()}")
        for f, _ in FIGURES:
            if f not in done:
                emit(name, f, error=f"{type(e).__name__}: {e}")
    finally:
        # Stopping gets an alarm of its own.
        signal.alarm(120)
        try:
            t = time.perf_counter()
            peer.stop()
            log(f"{name}: stopped in {time.perf_counter() - t:.1f} s")
        except BaseException:
            log(f"{name}: stopping failed:\n{traceback.format_exc()}")
        signal.alarm(0)


def baseline(sz):
    """The array figures on one local thread, numpy alone."""
    import numpy as np

    out = {}
    x = np.arange(sz.sin_n, dtype=np.float64) * 1e-7
    out["distarray_sin_sum_s"], last = timed(lambda: float((np.sin(x) * 2 + 1).sum()), sz.reps)
    check_close("sin_sum", last, expected_sin_sum(sz.sin_n))
    del x
    x = np.random.default_rng(0).standard_normal((sz.xtx_n, 16))
    out["distarray_xtx_s"] = median_time(lambda: x.T @ x, sz.reps)
    return out


def netns_prefix():
    """A command prefix that runs a command in a new network namespace with
    loopback alone, or [] where that cannot be made (not root, no unshare)."""
    cmd = ["unshare", "--net", "--"]
    try:
        ok = subprocess.run(cmd + ["true"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return cmd if ok else []


def loopback_up():
    """Brings up `lo` (down in a fresh network namespace), as `ip link set lo up`."""
    import fcntl
    import socket
    import struct

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, req))[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))


def run_peer_process(name, args, tmp, records, prefix):
    """Runs `peers.py --child NAME` with a hard deadline; collects its lines."""
    logpath = os.path.join(tmp, f"{name}.log")
    cmd = prefix + [sys.executable, os.path.abspath(__file__), "--child", name,
                    "--timeout", str(args.timeout), "--scratch", tmp]
    if prefix:
        cmd.append("--netns")
    if args.quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    got = set()
    with open(logpath, "w") as logf:
        p = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=logf,
            text=True, start_new_session=True,
        )
        # The child's own alarm should end it; this is for a child that hangs
        # where Python's signal handlers cannot run. It ends the child's whole
        # process group (the child and what it started).
        def kill():
            log(f"{name}: still running after {args.timeout + 120} s, killing it")
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        deadline = threading.Timer(args.timeout + 120, kill)
        deadline.start()
        try:
            for line in p.stdout:
                line = line.strip()
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue  # a library's print, not ours
                print(line, flush=True)
                records[(rec["peer"], rec["figure"])] = rec
                got.add(rec["figure"])
            rc = p.wait()
        finally:
            deadline.cancel()
    secs = time.perf_counter() - t0
    for f, _ in FIGURES:
        if f not in got:
            rec = {"peer": name, "figure": f, "unit": UNITS[f],
                   "error": f"no result (child exited {rc}; see {logpath})"}
            print(json.dumps(rec), flush=True)
            records[(name, f)] = rec
    failed = any("error" in records[(name, f)] for f, _ in FIGURES)
    log(f"{name}: done in {secs:.0f} s, exit {rc}" + (f"; log: {logpath}" if failed else ""))
    if failed:
        with open(logpath) as f:
            tail = f.read().splitlines()[-25:]
        for l in tail:
            print(f"  [{name}] {l}", file=sys.stderr)


def fmt(x):
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def table(records, columns):
    head = ["figure", "unit"] + [c for c, _ in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for f, unit in FIGURES:
        cells = [f, unit]
        for _, key in columns:
            rec = records.get((key, f))
            if rec is None:
                cells.append("")
            elif "error" in rec:
                cells.append("failed")
            else:
                cells.append(fmt(rec["value"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_records(paths):
    """Figures from saved output: this script's lines (with a "peer") and
    distob's `cargo run --release --example bench` lines (without one)."""
    records = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(rec, dict) or rec.get("figure") not in UNITS:
                    continue
                if "value" not in rec and "error" not in rec:
                    continue
                records[(rec.get("peer", "distob"), rec["figure"])] = rec
    return records


def columns_of(records, peers):
    cols = [(p, p) for p in peers]
    if any(k[0] == BASELINE for k in records):
        cols.append(("numpy (1 thread)", BASELINE))
    if any(k[0] == "distob" for k in records):
        cols.append(("distob", "distob"))
    return cols


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a check")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="comma-separated, of: " + ", ".join(PEERS))
    ap.add_argument("--timeout", type=int, default=600, help="seconds per peer")
    ap.add_argument("--tabulate", nargs="+", metavar="FILE",
                    help="measure nothing: print the table of saved JSON lines, "
                    "this script's and distob's bench output (a distob column)")
    ap.add_argument("--no-netns", action="store_true",
                    help="do not run the peers in network namespaces of their own")
    ap.add_argument("--child", choices=PEERS, help=argparse.SUPPRESS)
    ap.add_argument("--scratch", help=argparse.SUPPRESS)
    ap.add_argument("--netns", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sz = Sizes(args.quick)

    if args.child:
        if args.netns:
            loopback_up()
        run_child(args.child, sz, args.timeout, args.scratch)
        return

    if args.tabulate:
        records = read_records(args.tabulate)
        peers = [p for p in PEERS if any(k[0] == p for k in records)]
        print(table(records, columns_of(records, peers)))
        return

    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    for p in peers:
        if p not in PEERS:
            ap.error(f"unknown peer {p!r}")
    tmp = tempfile.mkdtemp(prefix="distob-peers-")
    records = {}
    t0 = time.perf_counter()
    log(f"peers: {'quick' if args.quick else 'full'} run of {', '.join(peers)}; scratch and logs in {tmp}")
    try:
        for f, v in baseline(sz).items():
            rec = {"peer": BASELINE, "figure": f, "unit": UNITS[f], "value": round_fig(v)}
            print(json.dumps(rec), flush=True)
            records[(BASELINE, f)] = rec
    except Exception:
        log(f"baseline failed:\n{traceback.format_exc()}")
    prefix = [] if args.no_netns else netns_prefix()
    log("peers: each in a network namespace with loopback alone" if prefix else
        "peers: in this network namespace (loopback addresses and settings only)")
    for p in peers:
        run_peer_process(p, args, tmp, records, prefix)
    columns = columns_of(records, peers)
    print()
    print(f"Peers, {'quick' if args.quick else 'full'} sizes, 2 workers each, "
          f"{os.cpu_count()} cores (total {time.perf_counter() - t0:.0f} s):")
    print()
    print(table(records, columns))
    errors = [r for r in records.values() if "error" in r]
    if errors:
        print()
        for r in errors:
            print(f"- {r['peer']} {r['figure']}: failed: {r['error']}")
    # The peers' scratch goes; their logs stay.
    for sub in ("dask", "ipython"):
        shutil.rmtree(os.path.join(tmp, sub), ignore_errors=True)
    print(f"\nlogs: {tmp}")


if __name__ == "__main__":
    main()
