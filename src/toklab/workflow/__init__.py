"""The workflow's planning layer: config → names, paths, targets and checks, in plain Python.

``workflow/rules/common.smk`` binds these plans to Snakemake's wildcards (``from_plan``);
nothing here imports Snakemake, so every function is unit-tested directly.

- :mod:`layout`: every path template, written once.
- :mod:`families`: the registry of tokenizer families (grammar, block, checks, training job);
  the name grammars themselves are :mod:`toklab.names`.
- :mod:`config`: the validated config as the stage plans read it.
- :mod:`data`, :mod:`tokenizers`, :mod:`cues`, :mod:`tokenized`, :mod:`tfree`, :mod:`lm`,
  :mod:`tasks`, :mod:`evaluation`: one plan per stage (its targets and its jobs' inputs).
- :mod:`plan`: :class:`~toklab.workflow.plan.Plan`, the stage plans of a config, and the
  default targets.
- :mod:`schema`, :mod:`checks`: the config against its schema, then its cross-references.
- :mod:`launch`, :mod:`shell`: training launchers and quoted shell options.
- :mod:`scale`: each LM's planned tokens and epochs over its training subset (no rule reads it).
"""
