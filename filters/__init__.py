"""Filters, dedup and decontamination as datatrove steps (installed as `r1data.filters`).

Each filter is a datatrove `BaseFilter` over r1data Records and can go into any datatrove
pipeline; `chain.run_chain(FilterChainConfig(...), input, output)` runs the whole R1 chain on
datatrove's local, Ray or Slurm executor. Modules:

    base                 RecordFilter, record_of, normalize (shared text normalisation)
    adapters             RecordReader, RecordWriter, DroppedRecordWriter (Records <-> Documents)
    format_filter        FormatFilter                 truncated, bad_format
    length_filter        LengthFilter                 too_short, too_long
    readability_filters  LanguageMixFilter            mixed_language
                         LongParagraphFilter          long_paragraph
                         CodeBlockFilter              code_block_in_cot
    repetition_filter    RepetitionFilter             repetition
    correctness_filter   CorrectnessFilter            incorrect, unverified, near_identical_sample, prompt_cap
    decontamination      DecontaminationFilter        contamination
    exact_dedup          ExactDedupFilter             duplicate_prompt, duplicate_completion
    fuzzy_dedup          FuzzyPromptDedupFilter       near_duplicate_prompt
    minhash_dedup        datatrove's MinHash steps    near_duplicate
    keys                 the chain's compact keys between stages, and its corpus-wide decisions
    chain                FilterChainConfig, run_chain, build_executors, stats_table

Importing this package imports nothing heavy; import the module you need.
"""
