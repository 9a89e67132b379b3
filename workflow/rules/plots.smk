# Plots stage: PNG figures for people (captions in workflow/report/).


rule plot_morphscore_fertility:
    input:
        layout.table("tokenizer_stats"),
    output:
        report(
            layout.plot("morphscore_fertility"),
            caption="../report/morphscore_fertility.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="morphscore_fertility"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("plots.py"),
    shell:
        "python {params.script:q} morphscore-fertility --table {input:q}"
        " --output {output:q} 2> {log:q}"


rule plot_vocab_overlap:
    input:
        from_plan(plan.evaluation.overlap_inputs),
    output:
        report(
            layout.plot("vocab_overlap"),
            caption="../report/vocab_overlap.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="vocab_overlap"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        script=script("plots.py"),
        tokenizers=from_plan(plan.evaluation.overlap_tokenizer_options),
    shell:
        "python {params.script:q} vocab-overlap {params.tokenizers}"
        " --output {output:q} 2> {log:q}"


rule plot_surprisal_example:
    input:
        unpack(from_plan(plan.evaluation.example_inputs)),
    output:
        report(
            layout.plot("surprisal_example"),
            caption="../report/surprisal_example.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="surprisal_example"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        script=script("plots.py"),
        prefix=prefix_of("corpus_bin"),
        settings=from_plan(plan.evaluation.example_settings),
        tokenizers=from_plan(plan.evaluation.example_tokenizer_options),
    shell:
        "python {params.script:q} surprisal-example --predictions {input.predictions:q}"
        " --corpus-prefix {params.prefix:q} --cue {params.settings[cue]}"
        " --document {params.settings[document]} --max-bytes {params.settings[bytes]}"
        " {params.tokenizers} --output {output:q} 2> {log:q}"


rule plot_lm_bits_per_byte:
    input:
        layout.table("lm"),
    output:
        report(
            layout.plot("lm_bits_per_byte"),
            caption="../report/lm_bits_per_byte.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="lm_bits_per_byte"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("plots.py"),
    shell:
        "python {params.script:q} lm-bits-per-byte --table {input:q} --output {output:q}"
        " 2> {log:q}"


rule plot_lm_curves:
    input:
        from_plan(plan.lm.curve_inputs),
    output:
        report(
            layout.plot("lm_curves"),
            caption="../report/lm_curves.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="lm_curves"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("plots.py"),
        runs=from_plan(plan.lm.curve_options),
    shell:
        "python {params.script:q} lm-curves {params.runs} --output {output:q} 2> {log:q}"


rule plot_stochastok_langgame:
    input:
        layout.table("stochastok_langgame"),
    output:
        report(
            layout.plot("stochastok_langgame"),
            caption="../report/stochastok_langgame_plot.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="stochastok_langgame"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("plots.py"),
    shell:
        "python {params.script:q} stochastok-langgame --table {input:q} --output {output:q}"
        " 2> {log:q}"


rule plot_stochastok_addition:
    input:
        layout.table("stochastok_addition"),
    output:
        report(
            layout.plot("stochastok_addition"),
            caption="../report/stochastok_addition_plot.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="stochastok_addition"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("plots.py"),
        split=from_plan(plan.tasks.addition_plot_split),
    shell:
        "python {params.script:q} stochastok-addition --table {input:q}"
        " --split {params.split:q} --output {output:q} 2> {log:q}"


rule plot_stochastok_benchmarks:
    input:
        layout.table("stochastok_benchmarks"),
    output:
        report(
            layout.plot("stochastok_benchmarks"),
            caption="../report/stochastok_benchmarks_plot.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="stochastok_benchmarks"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("plots.py"),
    shell:
        "python {params.script:q} stochastok-benchmarks --table {input:q} --output {output:q}"
        " 2> {log:q}"


rule plot_lm_logprobs:
    input:
        from_plan(plan.lm.logprobs_plot_inputs),
    output:
        report(
            layout.plot("lm_logprobs"),
            caption="../report/lm_logprobs.rst",
            category="Plots",
        ),
    log:
        layout.log("plot", plot="lm_logprobs"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("plots.py"),
        runs=from_plan(plan.lm.logprobs_plot_options),
    shell:
        "python {params.script:q} lm-logprobs {params.runs} --output {output:q} 2> {log:q}"
