# Plots stage: PNG figures for people (captions in workflow/report/).


rule plot_morphscore_fertility:
    input:
        "results/tables/tokenizer_stats_{corpus}.csv",
    output:
        report(
            "results/plots/morphscore_fertility_{corpus}.png",
            caption="../report/morphscore_fertility.rst",
            category="Plots",
        ),
    log:
        "logs/plots/morphscore_fertility_{corpus}.log",
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
        get_overlap_inputs,
    output:
        report(
            "results/plots/vocab_overlap_{corpus}.png",
            caption="../report/vocab_overlap.rst",
            category="Plots",
        ),
    log:
        "logs/plots/vocab_overlap_{corpus}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        script=script("plots.py"),
        tokenizers=overlap_tokenizer_options,
    shell:
        "python {params.script:q} vocab-overlap {params.tokenizers}"
        " --output {output:q} 2> {log:q}"


rule plot_surprisal_example:
    input:
        unpack(get_example_inputs),
    output:
        report(
            "results/plots/surprisal_example_{corpus}.png",
            caption="../report/surprisal_example.rst",
            category="Plots",
        ),
    log:
        "logs/plots/surprisal_example_{corpus}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        script=script("plots.py"),
        prefix=prediction_corpus_prefix,
        settings=example_settings,
        tokenizers=example_tokenizer_options,
    shell:
        "python {params.script:q} surprisal-example --predictions {input.predictions:q}"
        " --corpus-prefix {params.prefix:q} --cue {params.settings[cue]}"
        " --document {params.settings[document]} --max-bytes {params.settings[bytes]}"
        " {params.tokenizers} --output {output:q} 2> {log:q}"
