"""Ray backend benchmark: what a Ray cluster costs to start, and what the Ray path adds
to each model call over the local one.

    python bench/bench_ray.py [--calls 40]

Starts a two-node Ray cluster on this machine (loopback only; chips groq-lpu and
nvidia-h100 as custom resources), then runs the same plan — a map of N reason calls on
groq-lpu against the local OpenAI-compatible server (instant replies), concurrency 1,
so calls run one after another — locally and through Ray (after a warm-up run, so Ray's
workers have imported litellm).  Prints: cluster start, the first (cold) Ray run, and
per-call time local vs Ray.  Skips with a message if Ray is not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # bind 127.0.0.1 only

import hetflow  # noqa: E402
from hetflow.runtime import Settings, run_sync  # noqa: E402

FLOW = """
workflow bench {
  input doc: text
  objective cost
  extract parts = split(doc, sep="\\n")
  map part in parts {
    reason tag = prompt "Tag: {{ part }}" needs reasoning >= 2
  }
  output tag
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    try:
        import ray
        from ray.cluster_utils import Cluster
    except ImportError:
        print("ray is not installed: pip install 'hetflow[ray]'")
        return 0
    from support.catalogs import local_catalog
    from support.openai_server import OpenAIServer

    t = time.perf_counter()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "resources": {"hetflow-chip:groq-lpu": 4},
            "include_dashboard": False,
        },
    )
    cluster.add_node(num_cpus=2, resources={"hetflow-chip:nvidia-h100": 4})
    ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
    cluster.wait_for_nodes()
    start_s = time.perf_counter() - t
    try:
        with OpenAIServer() as server, tempfile.TemporaryDirectory() as tmp:
            server.script("small", reply="tag")
            home = Path(tmp)
            (home / "flow.het").write_text(FLOW)
            catalog = local_catalog(home, server.url, small_concurrency=1)
            plan = hetflow.compile(str(home / "flow.het"), catalog=str(catalog))
            settings = Settings(backoff_s=0.01)

            def timed(backend: str, n: int, tag: str) -> float:
                doc = "\n".join(f"{tag}{i}" for i in range(n))
                t0 = time.perf_counter()
                result = run_sync(
                    plan,
                    {"doc": doc},
                    settings=settings,
                    backend=backend,
                    journal=False,
                    cache=False,
                )
                assert result.ok, result.reason
                return time.perf_counter() - t0

            cold = timed("ray", 1, "cold")
            timed("local", 1, "warm-local")
            timed("ray", 4, "warm-ray")
            n = args.calls
            local = timed("local", n, "l")
            remote = timed("ray", n, "r")
    finally:
        ray.shutdown()
        cluster.shutdown()

    print(f"two-node cluster start (Cluster + init + wait_for_nodes): {start_s:6.2f} s")
    print(f"first Ray run, 1 call (cold workers import litellm):      {cold:6.2f} s")
    print(f"{n} sequential calls, local: {local:6.3f} s  ({local / n * 1000:6.1f} ms/call)")
    print(f"{n} sequential calls, ray:   {remote:6.3f} s  ({remote / n * 1000:6.1f} ms/call)")
    print(f"Ray overhead per call: {(remote - local) / n * 1000:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
