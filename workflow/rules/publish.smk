# Publishing to the Hugging Face Hub: optional targets, asked for by name and never part of the
# default run (docs/publishing.md). A tokenizer, a token dataset (Delphi's parquet export,
# nanoGPT's .bin files), an LM with its model card, and an LM's kept checkpoints as one branch
# each (step-N, after the LM itself). Repo ids come from the config's publish block; the token
# from HF_TOKEN in the environment, never the config or a command line. Each target is a marker
# recording what was sent, so a rerun publishes only what changed. The jobs run where Snakemake
# runs (localrule), which reaches the Hub where compute nodes may not.


rule publish_tokenizer:
    input:
        unpack(from_plan(plan.publishing.tokenizer_inputs)),
    output:
        layout.PUBLISHED_TOKENIZER,
    log:
        layout.log("publish_tokenizer"),
    localrule: True
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        script=script("publish.py"),
        hub=from_plan(plan.publishing.tokenizer_params),
    shell:
        "python {params.script:q} tokenizer --directory {params.hub[directory]:q}"
        " --repo-id {params.hub[repo_id]:q} {params.hub[visibility]}"
        " --card-json {params.hub[card]:q} --marker {output:q} 2> {log:q}"


rule publish_delphi:
    input:
        unpack(from_plan(plan.publishing.dataset_inputs, export="delphi")),
    output:
        layout.PUBLISHED_DELPHI,
    log:
        layout.log("publish_delphi"),
    localrule: True
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        script=script("publish.py"),
        hub=from_plan(plan.publishing.dataset_params, export="delphi"),
    shell:
        "python {params.script:q} delphi {params.hub[splits]} --tokenizer {input.tokenizer:q}"
        " --repo-id {params.hub[repo_id]:q} {params.hub[visibility]}"
        " --card-json {params.hub[card]:q} --marker {output:q} 2> {log:q}"


rule publish_nanogpt:
    input:
        unpack(from_plan(plan.publishing.dataset_inputs, export="nanogpt")),
    output:
        layout.PUBLISHED_NANOGPT,
    log:
        layout.log("publish_nanogpt"),
    localrule: True
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        script=script("publish.py"),
        hub=from_plan(plan.publishing.dataset_params, export="nanogpt"),
    shell:
        "python {params.script:q} nanogpt {params.hub[splits]} --tokenizer {input.tokenizer:q}"
        " --repo-id {params.hub[repo_id]:q} {params.hub[visibility]}"
        " --card-json {params.hub[card]:q} --marker {output:q} 2> {log:q}"


rule publish_lm:
    input:
        unpack(from_plan(plan.publishing.lm_inputs)),
    output:
        layout.PUBLISHED_LM,
    log:
        layout.log("publish_lm"),
    localrule: True
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        script=script("publish.py"),
        hub=from_plan(plan.publishing.lm_params),
    shell:
        "python {params.script:q} lm --model-dir {params.hub[directory]:q}"
        " --evaluation {input.evaluation:q}"
        " --repo-id {params.hub[repo_id]:q} {params.hub[visibility]}"
        " --card-json {params.hub[card]:q} --marker {output:q} 2> {log:q}"


rule publish_suite:
    input:
        unpack(from_plan(plan.publishing.suite_inputs)),
    output:
        layout.PUBLISHED_SUITE,
    log:
        layout.log("publish_suite"),
    localrule: True
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=720,
    params:
        script=script("publish.py"),
        hub=from_plan(plan.publishing.suite_params),
    shell:
        "python {params.script:q} suite --model-dir {params.hub[directory]:q}"
        " --evaluation {input.evaluation:q} {params.hub[evaluations]}"
        " --repo-id {params.hub[repo_id]:q} {params.hub[visibility]}"
        " --card-json {params.hub[card]:q} --marker {output:q} 2> {log:q}"
