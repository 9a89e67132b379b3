# Tasks stage: StochasTok's tasks. LangGame questions on a subset's words and the examples of
# each tokenization, LMs fine-tuned on them and their accuracy; multi-digit addition scored on
# every kept checkpoint; the standard multiple-choice benchmarks (downstream) of chosen LMs, by
# toklab's scorer or lm-evaluation-harness; and lm-eval tasks by name on a corpus's LMs.


rule langgame_questions:
    input:
        unpack(from_plan(plan.tasks.langgame_question_inputs)),
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
        settings=from_plan(plan.tasks.langgame_question_params),
    shell:
        "python {params.script:q} langgame-questions {params.settings[words]}"
        " --train {params.settings[train]} --validation {params.settings[validation]}"
        " --seed {params.settings[seed]} --train-output {output.train:q}"
        " --validation-output {output.validation:q} 2> {log:q}"


rule langgame_examples:
    input:
        unpack(from_plan(plan.tasks.langgame_example_inputs)),
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
        unpack(from_plan(plan.tasks.finetune_inputs)),
    output:
        **layout.lm_outputs(layout.LANGGAME_MODEL),
    log:
        layout.log("finetune_langgame"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=from_plan(plan.tasks.finetune_params, item="gpus"),
        nodes=1,
        mem_mb=32000,
        runtime=720,
    params:
        script=script("train_lm.py"),
        launcher=launcher,
        run=from_plan(plan.tasks.finetune_params),
        out_dir=directory_of("model"),
    shell:
        # exec: SLURM's signals (--signal, preemption) reach the trainer, not a shell around it
        "exec {params.launcher} {params.script:q} --train {params.run[train]:q}"
        " --valid {params.run[valid]:q} --tokenizer {input.tokenizer:q}"
        " --out-dir {params.out_dir:q} {params.run[settings]} 2> {log:q}"


rule evaluate_langgame:
    input:
        unpack(from_plan(plan.tasks.langgame_eval_inputs)),
    output:
        layout.LANGGAME_EVAL,
    log:
        layout.log("evaluate_langgame"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 2
    resources:
        gpu=from_plan(plan.tasks.finetune_params, item="eval_gpus"),
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


rule evaluate_addition:
    input:
        unpack(from_plan(plan.tasks.addition_eval_inputs)),
    output:
        layout.ADDITION_EVAL,
    log:
        layout.log("evaluate_addition"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 2
    resources:
        gpu=from_plan(plan.lm.params, item="eval_gpus"),
        mem_mb=8000,
        runtime=240,
    params:
        script=script("stochastok.py"),
        model_dir=directory_of("model"),
        settings=from_plan(plan.tasks.addition_eval_params),
    shell:
        "python {params.script:q} evaluate-addition --model-dir {params.model_dir:q}"
        " --tokenizer {input.tokenizer:q} --split-table {input.splits:q}"
        " {params.settings[splits]}"
        " --samples {params.settings[samples]}"
        " --max-new-tokens {params.settings[max_new_tokens]}"
        " --stochastok-p {params.settings[stochastok_p]}"
        " --dropout-p {params.settings[dropout_p]} --seed {params.settings[seed]}"
        " --output {output:q} 2> {log:q}"


rule evaluate_benchmarks:
    input:
        unpack(from_plan(plan.tasks.benchmark_eval_inputs)),
    output:
        layout.BENCHMARKS_EVAL,
    log:
        layout.log("evaluate_benchmarks"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 2
    resources:
        gpu=from_plan(plan.lm.params, item="eval_gpus"),
        mem_mb=16000,
        runtime=720,
    params:
        script=script("stochastok.py"),
        model_dir=directory_of("model"),
        settings=from_plan(plan.tasks.benchmark_eval_params),
    shell:
        "python {params.script:q} evaluate-benchmarks --model-dir {params.model_dir:q}"
        " --tokenizer {input.tokenizer:q} {params.settings[benchmarks]}"
        " --limit {params.settings[limit]} --seed {params.settings[seed]}"
        " {params.settings[backend]} --output {output:q} 2> {log:q}"


# lm-evaluation-harness tasks by name on one LM of the corpus (its lm_eval block)
rule lm_harness:
    input:
        unpack(from_plan(plan.tasks.lm_harness_inputs)),
    output:
        layout.LMEVAL_RESULTS,
    log:
        layout.log("lm_harness"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 2
    resources:
        gpu=from_plan(plan.lm.params, item="eval_gpus"),
        mem_mb=16000,
        runtime=720,
    params:
        script=script("lm_harness.py"),
        model_dir=directory_of("model"),
        settings=from_plan(plan.tasks.lm_harness_params),
    shell:
        "python {params.script:q} --model-dir {params.model_dir:q}"
        " {params.settings[options]} --output {output:q} 2> {log:q}"
