# StochasTok and its baselines: variant tokenizations of a subset, as token arrays beside the
# tokenizer's own. {tokenizer}-stochastok{p} expands the tokenizer's array with the split table
# of its tokenizer; {tokenizer}-bpedropout{p} and {tokenizer}-chars re-encode the byte corpus.
# Each rule's tokenizer wildcard matches its own variant's names only (the tokenize rule's
# matches every other name), so one rule makes each token array.


rule stochastok_splits:
    input:
        unpack(get_split_table_inputs),
    output:
        layout.STOCHASTOK_SPLITS,
    log:
        layout.log("stochastok_splits"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        script=script("stochastok.py"),
    shell:
        "python {params.script:q} splits --tokenizer {input.tokenizer:q} --output {output:q}"
        " 2> {log:q}"


rule expand_stochastok:
    input:
        unpack(get_stochastok_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("expand_stochastok"),
    wildcard_constraints:
        tokenizer=names.TokenizationName.pattern("stochastok"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("stochastok.py"),
        tokens=prefix_of("tokens_bin"),
        output=prefix_of("bin"),
        p=lambda wildcards: names.TokenizationName.parse(wildcards.tokenizer).p,
        settings=get_variant_params,
    shell:
        "python {params.script:q} expand --tokens {params.tokens:q}"
        " --tokenizer {input.tokenizer:q} --splits {input.splits:q}"
        " --output-prefix {params.output:q} --p {params.p} --seed {params.settings[seed]}"
        " --stream {wildcards.subset} 2> {log:q}"


rule bpe_dropout:
    input:
        unpack(get_bpe_dropout_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("bpe_dropout"),
    wildcard_constraints:
        tokenizer=names.TokenizationName.pattern("bpedropout"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=1440,
    params:
        script=script("stochastok.py"),
        corpus=prefix_of("corpus_bin"),
        output=prefix_of("bin"),
        p=lambda wildcards: names.TokenizationName.parse(wildcards.tokenizer).p,
        settings=get_variant_params,
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q} dropout"
        " --tokenizer {input.tokenizer:q} --corpus-prefix {params.corpus:q}"
        " --output-prefix {params.output:q} --p {params.p} --seed {params.settings[seed]}"
        " --stream {wildcards.subset} 2> {log:q}"


rule tokenize_characters:
    input:
        unpack(get_character_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize_characters"),
    wildcard_constraints:
        tokenizer=names.TokenizationName.pattern("chars"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("stochastok.py"),
        corpus=prefix_of("corpus_bin"),
        output=prefix_of("bin"),
    shell:
        "python {params.script:q} characters --tokenizer {input.tokenizer:q}"
        " --corpus-prefix {params.corpus:q} --output-prefix {params.output:q} 2> {log:q}"
