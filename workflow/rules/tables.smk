# Tables stage: the paper tables as CSV targets (columns documented in README.md).


rule tokenizer_stats_table:
    input:
        get_stats_table_inputs,
    output:
        report(
            "results/tables/tokenizer_stats_{corpus}.csv",
            caption="../report/tokenizer_stats.rst",
            category="Tables",
        ),
    log:
        "logs/tables/tokenizer_stats_{corpus}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tokenizer_stats.py"),
    shell:
        "python {params.script:q} stats-table {input:q} --output {output:q} 2> {log:q}"


rule compression_table:
    input:
        get_compression_table_inputs,
    output:
        report(
            "results/tables/compression_{corpus}.csv",
            caption="../report/compression.rst",
            category="Tables",
        ),
    log:
        "logs/tables/compression_{corpus}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tokenizer_stats.py"),
    shell:
        "python {params.script:q} compression-table {input:q} --output {output:q}"
        " 2> {log:q}"


rule bpe_training_table:
    input:
        unpack(get_training_table_inputs),
    output:
        report(
            "results/tables/bpe_training_{corpus}.csv",
            caption="../report/bpe_training.rst",
            category="Tables",
        ),
    log:
        "logs/tables/bpe_training_{corpus}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tokenizer_stats.py"),
        entries=training_entries,
    shell:
        "python {params.script:q} training-table {params.entries}"
        " --manifest {input.manifest:q} --output {output:q} 2> {log:q}"
