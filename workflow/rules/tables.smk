# Tables stage: the paper tables as CSV targets (columns documented in README.md).


rule tokenizer_stats_table:
    input:
        get_own_stats,
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
        get_all_stats,
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
        unpack(get_training_table_inputs),
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
        entries=get_training_table_options,
    shell:
        "python {params.script:q} training {params.entries}"
        " --manifest {input.manifest:q} --output {output:q} 2> {log:q}"


rule lm_table:
    input:
        get_lm_table_inputs,
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
        entries=get_lm_table_options,
    shell:
        "python {params.script:q} lm {params.entries} --output {output:q} 2> {log:q}"
