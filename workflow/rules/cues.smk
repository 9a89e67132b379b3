# The byte LM's cues: per-byte predictions of the byte-level tokenizer's LM (trained by rule
# train_lm, rules/lm.smk) on the prediction subset, which the ByteSpan tokenizers segment by.


rule extract_predictions:
    input:
        unpack(from_plan(plan.cues.prediction_inputs)),
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
        gpu=from_plan(plan.cues.prediction_params, item="gpus"),
        mem_mb=32000,
        runtime=1440,
    params:
        script=script("extract_predictions.py"),
        checkpoint=directory_of("model"),
        corpus=prefix_of("corpus_bin"),
        extraction=from_plan(plan.cues.prediction_params),
    shell:
        "python {params.script:q} --checkpoint {params.checkpoint:q}"
        " --corpus-prefix {params.corpus:q} --output {output:q}"
        " --context {params.extraction[context]} --stride {params.extraction[stride]}"
        " --batch-size {params.extraction[batch_size]} 2> {log:q}"
