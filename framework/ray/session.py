"""The Ray session: starting or joining Ray, the resources a run asks for, actor names.

Ray is imported lazily (inside functions): nothing of the Ray backend runs, or imports ray, in
single mode.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from config.base import UserError
from framework.runtime.setup import resolve_device
from framework.runtime.signals import reclaim

log = logging.getLogger("rldojo")
ROOT = Path(__file__).resolve().parents[2]


class RaySetupError(UserError):
    """Ray cannot give the run what it needs: no cluster at ray_address, or fewer CPUs/GPUs
    than asked for (a one-line message with the fix)."""


def init_ray(general) -> bool:
    """Start a local Ray (``ray_address: null``) or join a cluster; True when we started it
    (and so must shut it down). Workers import this checkout's packages (PYTHONPATH locally,
    the checkout as working_dir on a cluster)."""
    import ray

    if ray.is_initialized():
        return False
    common = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
        "configure_logging": False,
    }
    try:
        _start(general, common)
    finally:
        reclaim()  # ray.init replaced our SIGTERM handler with one that aborts
    if general.ray_address is None:
        from framework.ray.reaper import watch

        watch()  # a local Ray goes with this driver, even after kill -9
    return True


def _start(general, common: dict) -> None:
    import ray

    if general.ray_address is None:
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
        # "local": a new local Ray even where `ray start` left one running (plain ray.init()
        # would join that cluster instead)
        ray.init(
            address="local",
            num_cpus=os.cpu_count(),
            runtime_env={"env_vars": {"PYTHONPATH": path}},
            **common,
        )
    else:
        excludes = ["tasks/", ".venv/", ".git/", "**/__pycache__/"]
        env = {"working_dir": str(ROOT), "excludes": excludes}
        try:
            check_reachable(general.ray_address)  # Ray itself retries a dead address for minutes
            ray.init(address=general.ray_address, runtime_env=env, **common)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise RaySetupError(
                f"general_cfg.ray_address: cannot join a Ray cluster at {general.ray_address!r} "
                f"({first_line(err)}); start one with `ray start --head` and give the address "
                "it prints (`auto` on its node; with an explicit address to a cluster that uses "
                "token authentication, also set RAY_AUTH_MODE=token), or use null for a local Ray"
            ) from None


def learner_gpus(general) -> float:
    if general.learner_num_gpus is not None:
        return general.learner_num_gpus
    return 1.0 if resolve_device(general.device) == "cuda" else 0.0


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """ConnectionError unless something listens at a ``host:port`` / ``ray://host:port``
    address (``auto`` is left to Ray, which fails fast when it finds no cluster)."""
    import socket

    hostport = address.removeprefix("ray://")
    if address == "auto" or ":" not in hostport:
        return
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as err:
        raise ConnectionError(f"nothing answers at {hostport}: {err}") from None


def check_resources(general) -> None:
    """CPUs for the workers and the learner in the cluster, GPUs for the learner on this node
    (the learner runs here). A local Ray that cannot fit them is an error; a cluster may
    still scale up, so there it is a warning."""
    import ray

    n, w, lc = general.n_workers, general.worker_num_cpus, general.learner_num_cpus
    need = n * w + lc
    have = ray.cluster_resources().get("CPU", 0.0)
    problems = []
    if need > have + 1e-9:
        fit = max(have - lc, 0.0) / n
        problems.append(
            f"general_cfg.n_workers: {n} workers x worker_num_cpus {w:g} + learner_num_cpus "
            f"{lc:g} need {need:g} CPUs but Ray has {have:g}; lower general_cfg.worker_num_cpus"
            f" (e.g. {fit:.2g}), learner_num_cpus or n_workers"
        )
    gpus = learner_gpus(general)
    if gpus > 0:
        here = ray.get_runtime_context().get_node_id()
        node_gpus = sum(
            node.get("Resources", {}).get("GPU", 0.0)
            for node in ray.nodes()
            if node.get("NodeID") == here and node.get("Alive", True)
        )
        if gpus > node_gpus + 1e-9:
            problems.append(
                f"general_cfg.learner_num_gpus: the learner needs {gpus:g} GPU(s) on the "
                f"driver's node, which gives Ray {node_gpus:g}; run the driver on a GPU node, "
                "or set general_cfg.device: cpu"
            )
    for message in problems:
        if general.ray_address is None:
            raise RaySetupError(message)
        log.warning("%s (waiting for the cluster to scale up)", message)


# ---- names of a run's actors --------------------------------------------------------------------
def worker_name(run_id: str, index: int) -> str:
    return f"rldojo-worker-{run_id}-{index}"


def data_server_name(run_id: str) -> str:
    return f"rldojo-data-server-{run_id}"


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__
