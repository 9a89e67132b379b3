# Tokenizers stage: byte corpus of the training subset -> HF tokenizer.json (+ vocab, merges).


rule train_bpe:
    input:
        unpack(get_bpe_training_corpus),
    output:
        tokenizer="results/tokenizers/{corpus}/{family}-{vocab}/tokenizer.json",
        vocab="results/tokenizers/{corpus}/{family}-{vocab}/vocab.json",
        merges="results/tokenizers/{corpus}/{family}-{vocab}/merges.txt",
        config="results/tokenizers/{corpus}/{family}-{vocab}/tokenizer_config.json",
        special_tokens_map="results/tokenizers/{corpus}/{family}-{vocab}/special_tokens_map.json",
    log:
        "logs/tokenizers/{corpus}/{family}-{vocab}.log",
    benchmark:
        "results/benchmarks/tokenizers/{corpus}/{family}-{vocab}.tsv"
    wildcard_constraints:
        family="bpe|hfbpe",
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=720,
    params:
        script=script("train_tokenizer.py"),
        bpe=get_bpe_config,
        backend=bpe_backend,
        specials=special_token_options,
        prefix=training_prefix,
        out_dir=tokenizer_dir,
    shell:
        "python {params.script:q} bpe --corpus-prefix {params.prefix:q}"
        " --vocab-size {wildcards.vocab} {params.specials}"
        " --min-frequency {params.bpe[min_frequency]} --backend {params.backend}"
        " --workers {threads} --out-dir {params.out_dir:q} 2> {log:q}"


rule train_bytespan:
    input:
        unpack(get_bytespan_inputs),
    output:
        tokenizer="results/tokenizers/{corpus}/bytespan-{cue}-{constraint}-{variant}-{vocab}/tokenizer.json",
        stats="results/tokenizers/{corpus}/bytespan-{cue}-{constraint}-{variant}-{vocab}/stats.csv",
    log:
        "logs/tokenizers/{corpus}/bytespan-{cue}-{constraint}-{variant}-{vocab}.log",
    benchmark:
        "results/benchmarks/tokenizers/{corpus}/bytespan-{cue}-{constraint}-{variant}-{vocab}.tsv"
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=32000,
        runtime=720,
    params:
        script=script("train_tokenizer.py"),
        settings=bytespan_settings,
        corpus=prediction_corpus_prefix,
        out_dir=tokenizer_dir,
    shell:
        "python {params.script:q} bytespan --corpus-prefix {params.corpus:q}"
        " --predictions {input.predictions:q} --cue {wildcards.cue}"
        " --constraint {params.settings[constraint]}"
        " --percentile {params.settings[percentile]} --vocab-size {wildcards.vocab}"
        " --min-frequency {params.settings[min_frequency]} --variant {params.settings[variant]}"
        " --inference {params.settings[inference]}"
        " --manifest {input.manifest:q} --subset {params.settings[subset]}"
        " {params.settings[specials]}"
        " --out-dir {params.out_dir:q} 2> {log:q}"
