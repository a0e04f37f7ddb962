"""r1data: the data side of DeepSeek-R1 as a toolkit.

The core a user imports: `r1data.record` (the one record type), `r1data.io` (streaming readers and
resumable writers), `r1data.models` (model specs, the embedded SmolLM2-135M), plus the generation
backends, verifiers, rewards and evaluation. Filters, pipelines and trainers import as
`r1data.filters`, `r1data.pipelines`, `r1data.trainers`.
"""

__version__ = "0.1.0"
