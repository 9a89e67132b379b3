# Evaluation stage: every tokenizer on a corpus's evaluation subset -> statistics JSON.


rule download_morphscore:
    output:
        layout.MORPHSCORE_GOLD,
    log:
        layout.log("download_morphscore"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("download.py"),
        url=from_plan(plan.evaluation.morphscore_url),
    shell:
        "python {params.script:q} --url {params.url:q} --output {output:q} 2> {log:q}"


rule tokenizer_stats:
    input:
        unpack(from_plan(plan.evaluation.stats_inputs)),
    output:
        layout.STATS,
    log:
        layout.log("tokenizer_stats"),
    conda:
        "../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        script=script("tokenizer_stats.py"),
        settings=from_plan(plan.evaluation.stats_params),
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q}"
        " --tokenizer {input.tokenizer:q} --name {wildcards.tokenizer}"
        " --tokenizer-corpus {wildcards.tokenizer_corpus}"
        " --manifest {input.manifest:q} --corpus {wildcards.corpus}"
        " --subset {params.settings[subset]} {params.settings[gold]}"
        " {params.settings[prefix_space]} --alpha {params.settings[alpha]}"
        " --output {output:q} 2> {log:q}"
