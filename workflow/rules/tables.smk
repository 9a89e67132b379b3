# Tables stage: the paper tables as CSV targets (columns documented in docs/tables.md).


rule tokenizer_stats_table:
    input:
        from_plan(plan.evaluation.own_stats_files),
    output:
        report(
            layout.table("tokenizer_stats"),
            caption="../report/tokenizer_stats.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="tokenizer_stats"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
    shell:
        "python {params.script:q} stats --table tokenizer_stats {input:q} --output {output:q}"
        " 2> {log:q}"


rule compression_table:
    input:
        from_plan(plan.evaluation.stats_files),
    output:
        report(
            layout.table("compression"),
            caption="../report/compression.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="compression"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
    shell:
        "python {params.script:q} stats --table compression {input:q} --output {output:q}"
        " 2> {log:q}"


rule bpe_training_table:
    input:
        unpack(from_plan(plan.evaluation.training_table_inputs)),
    output:
        report(
            layout.table("bpe_training"),
            caption="../report/bpe_training.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="bpe_training"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
        entries=from_plan(plan.evaluation.training_table_options),
    shell:
        "python {params.script:q} training {params.entries}"
        " --manifest {input.manifest:q} --output {output:q} 2> {log:q}"


rule lm_table:
    input:
        from_plan(plan.lm.table_inputs),
    output:
        report(
            layout.table("lm"),
            caption="../report/lm.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="lm"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
        entries=from_plan(plan.lm.table_options),
    shell:
        "python {params.script:q} lm {params.entries} --output {output:q} 2> {log:q}"


rule stochastok_addition_table:
    input:
        from_plan(plan.tasks.addition_table_inputs),
    output:
        report(
            layout.table("stochastok_addition"),
            caption="../report/stochastok_addition.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="stochastok_addition"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
        entries=from_plan(plan.tasks.addition_table_options),
    shell:
        "python {params.script:q} stochastok-addition {params.entries} --output {output:q}"
        " 2> {log:q}"


rule stochastok_langgame_table:
    input:
        from_plan(plan.tasks.langgame_table_inputs),
    output:
        report(
            layout.table("stochastok_langgame"),
            caption="../report/stochastok_langgame.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="stochastok_langgame"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
        entries=from_plan(plan.tasks.langgame_table_options),
    shell:
        "python {params.script:q} stochastok-langgame {params.entries} --output {output:q}"
        " 2> {log:q}"


rule stochastok_benchmarks_table:
    input:
        from_plan(plan.tasks.benchmark_table_inputs),
    output:
        report(
            layout.table("stochastok_benchmarks"),
            caption="../report/stochastok_benchmarks.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="stochastok_benchmarks"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
        entries=from_plan(plan.tasks.benchmark_table_options),
    shell:
        "python {params.script:q} stochastok-benchmarks {params.entries} --output {output:q}"
        " 2> {log:q}"


rule lm_harness_table:
    input:
        from_plan(plan.tasks.lm_harness_table_inputs),
    output:
        report(
            layout.table("lm_eval"),
            caption="../report/lm_harness.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="lm_eval"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
        entries=from_plan(plan.tasks.lm_harness_table_options),
    shell:
        "python {params.script:q} lm-harness {params.entries} --output {output:q} 2> {log:q}"


rule tfree_fertility_table:
    input:
        unpack(from_plan(plan.tfree.fertility_inputs)),
    output:
        report(
            layout.table("tfree_fertility"),
            caption="../report/tfree_fertility.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="tfree_fertility"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        script=script("tfree.py"),
        options=from_plan(plan.tfree.fertility_options),
    shell:
        "python {params.script:q} fertility-table --manifest {input.manifest:q}"
        " {params.options} --output {output:q} 2> {log:q}"


rule tfree_params_table:
    input:
        presets=plan.config.resource("resources/model_presets.yaml"),
    output:
        report(
            layout.table("tfree_params"),
            caption="../report/tfree_params.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="tfree_params"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tfree.py"),
        options=from_plan(plan.tfree.params_options),
    shell:
        "python {params.script:q} params-table --presets {input.presets:q} {params.options}"
        " --output {output:q} 2> {log:q}"


rule findings_table:
    input:
        unpack(from_plan(plan.findings.inputs)),
    output:
        report(
            layout.table("findings"),
            caption="../report/findings.rst",
            category="Findings",
        ),
    log:
        layout.log("table", table="findings"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tables.py"),
        options=from_plan(plan.findings.options),
    shell:
        "python {params.script:q} findings --claims {input.claims:q} {params.options}"
        " --output {output:q} 2> {log:q}"
