"""The workflow's planning layer: config → names, paths, targets and checks, in plain Python.

``workflow/rules/common.smk`` adapts Snakemake's wildcards to this package; nothing here imports
Snakemake, so every function is unit-tested directly.

- :mod:`layout`: every path template, written once.
- :mod:`names`: the tokenizer-name grammar of each family (format, parse, wildcard constraint).
- :mod:`families`: the registry of tokenizer families and what each block configures.
- :mod:`plan`: config → the targets of each stage and the inputs of each job.
- :mod:`checks`: parse-time checks of the config's cross-references.
- :mod:`launch`, :mod:`shell`: training launchers and quoted shell options.
"""
