# Language models: token arrays (or a Delphi export's chunks) -> the one trainer -> bits per
# byte on the validation subset, every document scored in full (the comparison across
# tokenizers). The byte LM is the LM of the byte-level tokenizer "bytes" of its corpus.


rule train_lm:
    input:
        unpack(from_plan(plan.lm.training_inputs)),
    output:
        **layout.lm_outputs(),
    log:
        layout.log("train_lm"),
    benchmark:
        layout.LM_BENCHMARK
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=from_plan(plan.lm.params, item="gpus"),
        nodes=from_plan(plan.lm.params, item="nodes"),
        mpi=from_plan(plan.lm.params, item="mpi"),
        tasks_per_node=from_plan(plan.lm.params, item="tasks_per_node"),
        mem_mb=32000,
        runtime=2880,
    params:
        script=script("train_lm.py"),
        launcher=launcher,
        lm=from_plan(plan.lm.params),
        out_dir=directory_of("model"),
    shell:
        # exec: SLURM's signals (--signal, preemption) reach the trainer, not a shell around it
        "exec {params.launcher} {params.script:q} --train {params.lm[train]:q}"
        " --valid {params.lm[valid]:q}"
        " {params.lm[tokenizer_option]} {input.tokenizer:q} --out-dir {params.out_dir:q}"
        " {params.lm[settings]}"
        " 2> {log:q}"


rule evaluate_lm:
    input:
        unpack(from_plan(plan.lm.eval_inputs)),
    output:
        layout.LM_EVAL,
    log:
        layout.log("evaluate_lm"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=from_plan(plan.lm.params, item="eval_gpus"),
        mem_mb=16000,
        runtime=720,
    params:
        script=script("evaluate_lm.py"),
        model_dir=directory_of("model"),
        train=prefix_of("train_bin"),
        valid=prefix_of("valid_bin"),
        settings=from_plan(plan.lm.eval_params),
    shell:
        "python {params.script:q} --model-dir {params.model_dir:q} --valid {params.valid:q}"
        " --train {params.train:q} {params.settings[options]}"
        " --context {params.settings[context]} --stride {params.settings[stride]}"
        " --batch-size {params.settings[batch_size]}"
        " --label corpus {wildcards.corpus} --label tokenizer_corpus {wildcards.tokenizer_corpus}"
        " --label tokenizer {wildcards.tokenization} --label model {wildcards.model}"
        " --output {output:q} 2> {log:q}"


# Delphi's training dynamics: next-token log-probabilities of the first validation documents by
# the final model and every kept checkpoint (lm.evaluation.logprobs).
rule lm_logprobs:
    input:
        unpack(from_plan(plan.lm.logprobs_inputs)),
    output:
        directory(layout.LM_LOGPROBS),
    log:
        layout.log("lm_logprobs"),
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=from_plan(plan.lm.params, item="eval_gpus"),
        mem_mb=16000,
        runtime=720,
    params:
        script=script("lm_logprobs.py"),
        model_dir=directory_of("model"),
        valid=prefix_of("valid_bin"),
        settings=from_plan(plan.lm.logprobs_params),
    shell:
        "python {params.script:q} --model-dir {params.model_dir:q} --valid {params.valid:q}"
        " --documents {params.settings[documents]} --max-tokens {params.settings[max_tokens]}"
        " --batch-size {params.settings[batch_size]} --output {output:q} 2> {log:q}"
