"""Where work runs, kept apart from what it does: Slurm arrays and Ray tasks for the filter chain
and for sharded generation.

    environment  the shell lines that give a Slurm job the Python environment r1data runs from
    executors    datatrove's local, Ray and Slurm executors, built one way for every pipeline
    slurm        submitted jobs: waiting on completion markers, failed tasks and their logs
    generation   sharded generation as a Slurm array script (optionally one `vllm serve` per
                 task) or as Ray tasks
"""
