"""Where work runs, kept apart from what it does: Slurm arrays and Ray tasks for the filter chain,
for sharded generation and for ablation runs.

    environment  the shell lines that give a Slurm job the Python environment r1data runs from
    executors    datatrove's local, Ray and Slurm executors, built one way for every datatrove
                 pipeline (the filter chain's stages)
    slurm        one writer and submitter of Slurm scripts, and submitted jobs: waiting on
                 completion markers, failed tasks and their logs (for both kinds of job)
    generation   sharded generation as a Slurm array script (optionally one `vllm serve` per
                 task) or as Ray tasks

Why generation does not run through datatrove's executors: its tasks are not datatrove pipelines
over a corpus but one shard each of a resumable generation, and two things it needs are missing
there. datatrove's Slurm executor requires a partition and a time limit, where a generation array
runs on the cluster's defaults; its Ray executor returns once all tasks ended, with no per-task
result, where generation moves its progress bar and reports each failed shard with its error as
the shard ends. Both kinds of job share the same completion markers and log layout
(`<logs>/completions/<i>`, `<logs>/logs/task_<i>.log`), so `slurm.wait` and `--collect` serve both.
"""
