# Byte-level LM stage: train on one subset, then extract per-byte cues for another.


rule train_bytelm:
    input:
        unpack(get_bytelm_training_data),
    output:
        model="results/models/bytelm/{corpus}/{model}/model.safetensors",
        config="results/models/bytelm/{corpus}/{model}/config.json",
        metrics="results/models/bytelm/{corpus}/{model}/metrics.jsonl",
    log:
        "logs/bytelm/{corpus}/{model}.log",
    benchmark:
        "results/benchmarks/bytelm/{corpus}/{model}.tsv"
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=bytelm_gpus,
        nodes=1,
        mem_mb=32000,
        runtime=2880,
    params:
        script=script("train_lm.py"),
        launcher=train_launcher,
        overrides=training_overrides,
        train=training_prefix,
        valid=validation_prefix,
        out_dir=model_dir,
    shell:
        # exec: SLURM's signals (--signal, preemption) reach the trainer, not a shell around it
        "exec {params.launcher} {params.script:q} --train {params.train:q} --valid {params.valid:q}"
        " --out-dir {params.out_dir:q} {params.overrides} 2> {log:q}"


rule extract_predictions:
    input:
        unpack(get_prediction_inputs),
    output:
        directory("results/predictions/{corpus}/{model}.zarr"),
    log:
        "logs/predictions/{corpus}/{model}.log",
    benchmark:
        "results/benchmarks/predictions/{corpus}/{model}.tsv"
    conda:
        "../envs/torch-gpu.yaml"
    threads: 4
    resources:
        gpu=extraction_gpus,
        mem_mb=32000,
        runtime=1440,
    params:
        script=script("extract_predictions.py"),
        checkpoint=checkpoint_dir,
        corpus=prediction_corpus_prefix,
        extraction=extraction_settings,
    shell:
        "python {params.script:q} --checkpoint {params.checkpoint:q}"
        " --corpus-prefix {params.corpus:q} --output {output:q}"
        " --context {params.extraction[context]} --stride {params.extraction[stride]}"
        " --batch-size {params.extraction[batch_size]} 2> {log:q}"
