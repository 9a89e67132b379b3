# Evaluation stage: every tokenizer on a corpus's evaluation subset -> statistics JSON.


rule download_morphscore:
    output:
        "resources/morphscore/{morphscore_language}_morph_data.csv",
    log:
        "logs/evaluation/download_morphscore/{morphscore_language}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("download.py"),
        url=morphscore_url,
    shell:
        "python {params.script:q} --url {params.url:q} --output {output:q} 2> {log:q}"


rule tokenizer_stats:
    input:
        unpack(get_stats_inputs),
    output:
        "results/stats/{corpus}/{tokenizer_corpus}/{tokenizer}.json",
    log:
        "logs/evaluation/{corpus}/{tokenizer_corpus}/{tokenizer}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        script=script("tokenizer_stats.py"),
        settings=evaluation_settings,
        gold=gold_options,
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q} evaluate"
        " --tokenizer {input.tokenizer:q} --name {wildcards.tokenizer}"
        " --tokenizer-corpus {wildcards.tokenizer_corpus}"
        " --manifest {input.manifest:q} --corpus {wildcards.corpus}"
        " --subset {params.settings[subset]} {params.gold}"
        " {params.settings[prefix_space]} --alpha {params.settings[alpha]}"
        " --output {output:q} 2> {log:q}"
