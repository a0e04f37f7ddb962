"""What the Ray tests run in a subprocess (so a hang is killed by the test's deadline): on one
local Ray instance, the filter chain and a sharded generation; prints their results as JSON.

    python ray_run.py CORPUS CHAIN_OUT PROMPTS GENERATE_OUT MODEL DUMP_STACKS_AFTER_SECONDS
"""

import faulthandler
import json
import shutil
import sys
import tempfile

import ray

from r1data.config import from_dict
from r1data.filters.chain import ChainIncomplete, FilterChainConfig, run_chain
from r1data.generate import GenerateConfig
from r1data.launch import generation

# MinHash off: its 4 stages add Ray actors (seconds each) and nothing more about Ray.
RECIPE = {"decontamination": {"benchmarks": ["gsm8k"]}, "correctness": {"max_per_prompt": 2},
          "minhash": None}


def main() -> None:
    corpus, chain_out, prompts, generate_out, model, dump_after = sys.argv[1:7]
    # Before the test's deadline kills this process, every thread's stack goes to the output:
    # a hang shows where it waits (ray.wait, a placement group, a dependency loop).
    faulthandler.dump_traceback_later(float(dump_after), exit=False)
    # A private, short temp dir (it holds unix sockets): never a stale session of an earlier run.
    temp = tempfile.mkdtemp(prefix="r1ray-")
    ray.init(num_cpus=2, object_store_memory=100 * 1024**2, include_dashboard=False,
             log_to_driver=False, configure_logging=False, _temp_dir=temp)
    try:
        chain = from_dict(FilterChainConfig, {**RECIPE, "executor": "ray", "tasks": 2, "workers": 2,
                                              "mem_per_cpu_gb": 0.5})
        stats = run_chain(chain, corpus, chain_out)
        config = GenerateConfig(input=prompts, output=generate_out, model=model, num_shards=2,
                                backend_options={"device": "cpu"},
                                sampling={"n": 2, "temperature": 1.0, "max_tokens": 5, "seed": 3})
        result = generation.launch(config, "ray")
        try:  # a task no node can hold fails at once instead of waiting forever
            run_chain(from_dict(FilterChainConfig, {"executor": "ray", "mem_per_cpu_gb": 10_000}),
                      corpus, chain_out + "-too-big")
            too_big = None
        except ChainIncomplete as exc:
            too_big = str(exc)
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    print(json.dumps({"kept": stats["kept"], "failed": result["failed"], "too_big": too_big,
                      "samples_written": result["summary"].samples_written}))


if __name__ == "__main__":
    main()
