# Byte-level LM stage: train on one subset, then extract per-byte cues for another.


rule train_bytelm:
    input:
        unpack(get_bytelm_training_data),
    output:
        **layout.bytelm_outputs(),
    log:
        layout.log("train_bytelm"),
    benchmark:
        layout.BYTELM_BENCHMARK
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=get_bytelm_gpus,
        nodes=1,
        mem_mb=32000,
        runtime=2880,
    params:
        script=script("train_lm.py"),
        launcher=launcher,
        lm=get_bytelm_params,
        train=prefix_of("train_bin"),
        valid=prefix_of("valid_bin"),
        out_dir=directory_of("model"),
    shell:
        # exec: SLURM's signals (--signal, preemption) reach the trainer, not a shell around it
        "exec {params.launcher} {params.script:q} --train {params.train:q} --valid {params.valid:q}"
        " --out-dir {params.out_dir:q} {params.lm[settings]} 2> {log:q}"


rule extract_predictions:
    input:
        unpack(get_prediction_inputs),
    output:
        directory(layout.PREDICTIONS),
    log:
        layout.log("extract_predictions"),
    benchmark:
        layout.PREDICTIONS_BENCHMARK
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=get_extraction_gpus,
        mem_mb=32000,
        runtime=1440,
    params:
        script=script("extract_predictions.py"),
        checkpoint=directory_of("model"),
        corpus=prefix_of("corpus_bin"),
        lm=get_bytelm_params,
    shell:
        "python {params.script:q} --checkpoint {params.checkpoint:q}"
        " --corpus-prefix {params.corpus:q} --output {output:q}"
        " --context {params.lm[context]} --stride {params.lm[stride]}"
        " --batch-size {params.lm[batch_size]} 2> {log:q}"
