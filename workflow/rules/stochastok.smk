# StochasTok and its baselines: variant tokenizations of a subset, as token arrays beside the
# tokenizer's own. {tokenizer}-stochastok{p} expands the tokenizer's array with the split table
# of its tokenizer; {tokenizer}-bpedropout{p} and {tokenizer}-chars re-encode the byte corpus.
# Each rule's tokenizer wildcard matches its own variant's names only (the tokenize rule's
# matches every other name), so one rule makes each token array.


rule stochastok_splits:
    input:
        unpack(get_split_table_inputs),
    output:
        layout.STOCHASTOK_SPLITS,
    log:
        layout.log("stochastok_splits"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        script=script("stochastok.py"),
    shell:
        "python {params.script:q} splits --tokenizer {input.tokenizer:q} --output {output:q}"
        " 2> {log:q}"


rule expand_stochastok:
    input:
        unpack(get_stochastok_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("expand_stochastok"),
    wildcard_constraints:
        tokenizer=names.TokenizationName.pattern("stochastok"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("stochastok.py"),
        tokens=prefix_of("tokens_bin"),
        output=prefix_of("bin"),
        p=lambda wildcards: names.TokenizationName.parse(wildcards.tokenizer).p,
        settings=get_variant_params,
    shell:
        "python {params.script:q} expand --tokens {params.tokens:q}"
        " --tokenizer {input.tokenizer:q} --splits {input.splits:q}"
        " --output-prefix {params.output:q} --p {params.p} --seed {params.settings[seed]}"
        " --stream {wildcards.subset} 2> {log:q}"


rule bpe_dropout:
    input:
        unpack(get_bpe_dropout_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("bpe_dropout"),
    wildcard_constraints:
        tokenizer=names.TokenizationName.pattern("bpedropout"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=1440,
    params:
        script=script("stochastok.py"),
        corpus=prefix_of("corpus_bin"),
        output=prefix_of("bin"),
        p=lambda wildcards: names.TokenizationName.parse(wildcards.tokenizer).p,
        settings=get_variant_params,
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q} dropout"
        " --tokenizer {input.tokenizer:q} --corpus-prefix {params.corpus:q}"
        " --output-prefix {params.output:q} --p {params.p} --seed {params.settings[seed]}"
        " --stream {wildcards.subset} 2> {log:q}"


rule tokenize_characters:
    input:
        unpack(get_character_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize_characters"),
    wildcard_constraints:
        tokenizer=names.TokenizationName.pattern("chars"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("stochastok.py"),
        corpus=prefix_of("corpus_bin"),
        output=prefix_of("bin"),
    shell:
        "python {params.script:q} characters --tokenizer {input.tokenizer:q}"
        " --corpus-prefix {params.corpus:q} --output-prefix {params.output:q} 2> {log:q}"


rule evaluate_addition:
    input:
        unpack(get_addition_eval_inputs),
    output:
        layout.ADDITION_EVAL,
    log:
        layout.log("evaluate_addition"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 2
    resources:
        gpu=get_lm_eval_gpus,
        mem_mb=8000,
        runtime=240,
    params:
        script=script("stochastok.py"),
        model_dir=directory_of("model"),
        settings=get_addition_eval_params,
    shell:
        "python {params.script:q} evaluate-addition --model-dir {params.model_dir:q}"
        " --tokenizer {input.tokenizer:q} --split-table {input.splits:q}"
        " {params.settings[splits]}"
        " --samples {params.settings[samples]}"
        " --max-new-tokens {params.settings[max_new_tokens]}"
        " --stochastok-p {params.settings[stochastok_p]}"
        " --dropout-p {params.settings[dropout_p]} --seed {params.settings[seed]}"
        " --output {output:q} 2> {log:q}"


rule stochastok_addition_table:
    input:
        get_addition_table_inputs,
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
        entries=get_addition_table_options,
    shell:
        "python {params.script:q} stochastok-addition {params.entries} --output {output:q}"
        " 2> {log:q}"


rule langgame_questions:
    input:
        unpack(get_langgame_question_inputs),
    output:
        train=layout.path(layout.LANGGAME_QUESTIONS, task_split="train"),
        validation=layout.path(layout.LANGGAME_QUESTIONS, task_split="validation"),
    log:
        layout.log("langgame_questions"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        script=script("stochastok.py"),
        settings=get_langgame_question_params,
    shell:
        "python {params.script:q} langgame-questions {params.settings[words]}"
        " --train {params.settings[train]} --validation {params.settings[validation]}"
        " --seed {params.settings[seed]} --train-output {output.train:q}"
        " --validation-output {output.validation:q} 2> {log:q}"


rule langgame_examples:
    input:
        unpack(get_langgame_example_inputs),
    output:
        **layout.files_of(layout.LANGGAME_EXAMPLES, layout.LANGGAME_EXAMPLE_SUFFIXES),
    log:
        layout.log("langgame_examples"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        script=script("stochastok.py"),
        output=prefix_of("bin"),
    shell:
        "python {params.script:q} langgame-examples --questions {input.questions:q}"
        " --tokenizer {input.tokenizer:q} --output-prefix {params.output:q} 2> {log:q}"


rule finetune_langgame:
    input:
        unpack(get_finetune_inputs),
    output:
        **layout.lm_outputs(layout.LANGGAME_MODEL),
    log:
        layout.log("finetune_langgame"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=get_finetune_gpus,
        nodes=1,
        mem_mb=32000,
        runtime=720,
    params:
        script=script("train_lm.py"),
        launcher=launcher,
        run=get_finetune_params,
        out_dir=directory_of("model"),
    shell:
        # exec: SLURM's signals (--signal, preemption) reach the trainer, not a shell around it
        "exec {params.launcher} {params.script:q} --train {params.run[train]:q}"
        " --valid {params.run[valid]:q} --tokenizer {input.tokenizer:q}"
        " --out-dir {params.out_dir:q} {params.run[settings]} 2> {log:q}"


rule evaluate_langgame:
    input:
        unpack(get_langgame_eval_inputs),
    output:
        layout.LANGGAME_EVAL,
    log:
        layout.log("evaluate_langgame"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 2
    resources:
        gpu=get_finetune_eval_gpus,
        mem_mb=8000,
        runtime=240,
    params:
        script=script("stochastok.py"),
        pretrained=directory_of("pretrained"),
        finetuned=directory_of("finetuned"),
    shell:
        "python {params.script:q} evaluate-langgame --pretrained {params.pretrained:q}"
        " --finetuned {params.finetuned:q} --questions {input.questions:q}"
        " --tokenizer {input.tokenizer:q} --output {output:q} 2> {log:q}"


rule stochastok_langgame_table:
    input:
        get_langgame_table_inputs,
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
        entries=get_langgame_table_options,
    shell:
        "python {params.script:q} stochastok-langgame {params.entries} --output {output:q}"
        " 2> {log:q}"


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
        split=get_addition_plot_split,
    shell:
        "python {params.script:q} stochastok-addition --table {input:q}"
        " --split {params.split:q} --output {output:q} 2> {log:q}"


rule evaluate_benchmarks:
    input:
        unpack(get_benchmark_eval_inputs),
    output:
        layout.BENCHMARKS_EVAL,
    log:
        layout.log("evaluate_benchmarks"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 2
    resources:
        gpu=get_lm_eval_gpus,
        mem_mb=16000,
        runtime=720,
    params:
        script=script("stochastok.py"),
        model_dir=directory_of("model"),
        settings=get_benchmark_eval_params,
    shell:
        "python {params.script:q} evaluate-benchmarks --model-dir {params.model_dir:q}"
        " --tokenizer {input.tokenizer:q} {params.settings[benchmarks]}"
        " --limit {params.settings[limit]} --seed {params.settings[seed]}"
        " --output {output:q} 2> {log:q}"


rule stochastok_benchmarks_table:
    input:
        get_benchmark_table_inputs,
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
        entries=get_benchmark_table_options,
    shell:
        "python {params.script:q} stochastok-benchmarks {params.entries} --output {output:q}"
        " 2> {log:q}"


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
