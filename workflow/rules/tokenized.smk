# Tokenized datasets: a byte corpus -> token arrays by any tokenizer (of any corpus) -> exports
# in the formats of Delphi, StochasTok/nanoGPT, CS336 and T-Free.
#
# Variant tokenizations are token arrays beside the tokenizer's own: {tokenizer}-stochastok{p}
# expands the tokenizer's array with its split table; {tokenizer}-bpedropout{p} and
# {tokenizer}-chars re-encode the byte corpus. Each rule's tokenization wildcard matches its own
# variant's names only (tokenize's matches every other name), so one rule makes each array.
# A corpus of token ids imports its subsets instead (rule import_tokens).
# A T-Free hasher splits subsets into word arrays, and the chunks of the T-Free exports into
# aligned word arrays (the original's samples), which T-Free LMs train on (rule train_lm).


rule tokenize:
    input:
        unpack(from_plan(plan.tokenized.token_array_inputs)),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize"),
    wildcard_constraints:
        tokenization=names.TokenizationName.own_pattern(),
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("tokenized.py"),
        corpus=prefix_of("corpus_bin"),
        output=prefix_of("bin"),
        settings=from_plan(plan.tokenized.tokenize_settings),
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q} tokenize"
        " --tokenizer {input.tokenizer:q} --corpus-prefix {params.corpus:q}"
        " --output-prefix {params.output:q}"
        " --batch-documents {params.settings[batch_documents]} 2> {log:q}"


# A corpus of token ids (source hf_tokens) has no text to tokenize: its subsets are imported
# from the published dataset as its tokenizer's arrays, at the same paths. import_tokens's
# corpus constraint matches only such corpora, where it takes precedence over tokenize.
ruleorder: import_tokens > tokenize


rule import_tokens:
    input:
        unpack(from_plan(plan.tokenized.import_inputs)),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("import_tokens"),
    wildcard_constraints:
        corpus=plan.tokenized.imported_corpus_pattern(),
        tokenization=names.TokenizationName.own_pattern(),
    conda:
        "../envs/cpu.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("import_tokens.py"),
        output=prefix_of("bin"),
        options=from_plan(plan.tokenized.import_options),
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q} {params.options}"
        " --tokenizer {input.tokenizer:q} --output-prefix {params.output:q} 2> {log:q}"


rule export_delphi:
    input:
        unpack(from_plan(plan.tokenized.export_inputs, export="delphi")),
    output:
        directory(layout.DELPHI_EXPORT),
    log:
        layout.log("export_delphi"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
    params:
        script=script("tokenized.py"),
        tokens=prefix_of("tokens_bin"),
        settings=from_plan(plan.tokenized.export_settings, export="delphi"),
    shell:
        "python {params.script:q} delphi --tokens {params.tokens:q}"
        " --tokenizer {input.tokenizer:q} --split {wildcards.subset}"
        " --seq-len {params.settings[seq_len]} --chunk-size {params.settings[chunk_size]}"
        " --out-dir {output:q} 2> {log:q}"


rule export_nanogpt:
    input:
        unpack(from_plan(plan.tokenized.nanogpt_inputs)),
    output:
        layout.NANOGPT_EXPORT,
    log:
        layout.log("export_nanogpt"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        script=script("tokenized.py"),
        tokens=prefix_of("tokens_bin"),
    shell:
        "python {params.script:q} nanogpt --tokens {params.tokens:q}"
        " --tokenizer {input.tokenizer:q} --output {output:q} 2> {log:q}"


rule export_cs336:
    input:
        unpack(from_plan(plan.tokenized.export_inputs, export="cs336")),
    output:
        layout.CS336_EXPORT,
    log:
        layout.log("export_cs336"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        script=script("tokenized.py"),
        tokens=prefix_of("tokens_bin"),
    shell:
        "python {params.script:q} cs336 --tokens {params.tokens:q}"
        " --tokenizer {input.tokenizer:q} --output {output:q} 2> {log:q}"


rule export_tfree:
    input:
        unpack(from_plan(plan.tokenized.tfree_inputs)),
    output:
        **layout.files_of(layout.TFREE_EXPORT, layout.TFREE_SUFFIXES),
        **layout.files_of(layout.TFREE_EXPORT, layout.TFREE_ALIGNED_SUFFIXES, "aligned"),
    log:
        layout.log("export_tfree"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        script=script("tokenized.py"),
        corpus=prefix_of("corpus_bin"),
        output=prefix_of("bin"),
        settings=from_plan(plan.tokenized.export_settings, export="tfree"),
    shell:
        "python {params.script:q} tfree --corpus-prefix {params.corpus:q}"
        " --output-prefix {params.output:q} --max-bytes {params.settings[max_bytes]}"
        " --tolerance {params.settings[tolerance]} 2> {log:q}"


rule stochastok_splits:
    input:
        unpack(from_plan(plan.tokenized.split_table_inputs)),
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
        unpack(from_plan(plan.tokenized.stochastok_inputs)),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("expand_stochastok"),
    wildcard_constraints:
        tokenization=names.TokenizationName.pattern("stochastok"),
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
        p=lambda wildcards: names.TokenizationName.parse(wildcards.tokenization).p,
        settings=from_plan(plan.tokenized.variant_params),
    shell:
        "python {params.script:q} expand --tokens {params.tokens:q}"
        " --tokenizer {input.tokenizer:q} --splits {input.splits:q}"
        " --output-prefix {params.output:q} --p {params.p} --seed {params.settings[seed]}"
        " --stream {wildcards.subset} 2> {log:q}"


rule bpe_dropout:
    input:
        unpack(from_plan(plan.tokenized.reencoding_inputs, method="bpedropout")),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("bpe_dropout"),
    wildcard_constraints:
        tokenization=names.TokenizationName.pattern("bpedropout"),
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
        p=lambda wildcards: names.TokenizationName.parse(wildcards.tokenization).p,
        settings=from_plan(plan.tokenized.variant_params),
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q} dropout"
        " --tokenizer {input.tokenizer:q} --corpus-prefix {params.corpus:q}"
        " --output-prefix {params.output:q} --p {params.p} --seed {params.settings[seed]}"
        " --stream {wildcards.subset} 2> {log:q}"


rule tokenize_characters:
    input:
        unpack(from_plan(plan.tokenized.reencoding_inputs, method="chars")),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize_characters"),
    wildcard_constraints:
        tokenization=names.TokenizationName.pattern("chars"),
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


rule tokenize_words:
    input:
        unpack(from_plan(plan.tfree.word_array_inputs)),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.WORD_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize_words"),
    wildcard_constraints:
        tokenization=names.TfreeName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        # about 2 MB/s per process; the table of distinct words grows with the corpus
        mem_mb=32000,
        runtime=1440,
    params:
        script=script("tfree.py"),
        corpus=prefix_of("corpus_bin"),
        output=prefix_of("bin"),
    shell:
        "python {params.script:q} words --settings {input.settings:q}"
        " --corpus-prefix {params.corpus:q} --output-prefix {params.output:q}"
        " --workers {threads} 2> {log:q}"


rule tokenize_aligned_words:
    input:
        unpack(from_plan(plan.tfree.aligned_word_array_inputs)),
    output:
        **layout.files_of(layout.ALIGNED_WORD_ARRAY, layout.ALIGNED_WORD_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize_aligned_words"),
    wildcard_constraints:
        tokenization=names.TfreeName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=1440,
    params:
        script=script("tfree.py"),
        memory_map=prefix_of("memory_map_bin"),
        output=prefix_of("bin"),
    shell:
        "python {params.script:q} aligned-words --settings {input.settings:q}"
        " --memory-map-prefix {params.memory_map:q} --output-prefix {params.output:q}"
        " --workers {threads} 2> {log:q}"
