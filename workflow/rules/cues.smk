# Per-byte cues ByteSpan segments by: the byte LM's predictions (the LM is trained by rule
# train_lm, rules/lm.smk) and the byte n-gram model's, on the prediction subset.


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


# The byte n-gram model's cues: counted on train_subset, predicted on predict_subset, the same
# zarr format (toklab.ngram_cues); CPU only, memory about 8 bytes per n-gram key counted.
rule ngram_cues:
    input:
        unpack(from_plan(plan.cues.ngram_inputs)),
    output:
        directory(layout.NGRAM_PREDICTIONS),
    log:
        layout.log("ngram_cues"),
    benchmark:
        layout.NGRAM_PREDICTIONS_BENCHMARK
    conda:
        "../envs/cpu.yaml"
    threads: 4
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=720,
    params:
        script=script("ngram_cues.py"),
        train=prefix_of("train_bin"),
        corpus=prefix_of("corpus_bin"),
        model=from_plan(plan.cues.ngram_params),
    shell:
        "python {params.script:q} --train-prefix {params.train:q}"
        " --corpus-prefix {params.corpus:q} --output {output:q}"
        " --order {params.model[order]} --discount {params.model[discount]} 2> {log:q}"
