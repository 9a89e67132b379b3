# Tokenizers stage: byte corpus of the training subset -> HF tokenizer.json (+ vocab, merges)
# for BPE, Unigram and ByteSpan; every family's rule binds the same two plan functions;
# pretrained tokenizers fetched once, and the byte-level tokenizer. T-Free has no vocabulary:
# its tokenizer is a hasher's settings and a dictionary of the most frequent words of a subset
# (counted once per subset).


rule train_bpe:
    input:
        unpack(from_plan(plan.tokenizers.training_inputs)),
    output:
        **layout.tokenizer_outputs(
            (
                "tokenizer.json",
                "vocab.json",
                "merges.txt",
                "tokenizer_config.json",
                "special_tokens_map.json",
            )
        ),
    log:
        layout.log("train_tokenizer"),
    benchmark:
        layout.TOKENIZER_BENCHMARK
    wildcard_constraints:
        tokenizer=names.BpeName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=720,
    params:
        script=script("train_tokenizer.py"),
        command=from_plan(plan.tokenizers.training_command),
        out_dir=directory_of("tokenizer"),
    shell:
        "python {params.script:q} {params.command}"
        " --workers {threads} --out-dir {params.out_dir:q} 2> {log:q}"


rule train_unigram:
    input:
        unpack(from_plan(plan.tokenizers.training_inputs)),
    output:
        **layout.tokenizer_outputs(
            ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
        ),
    log:
        layout.log("train_tokenizer"),
    benchmark:
        layout.TOKENIZER_BENCHMARK
    wildcard_constraints:
        tokenizer=names.UnigramName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        mem_mb=32000,
        runtime=720,
    params:
        script=script("train_tokenizer.py"),
        command=from_plan(plan.tokenizers.training_command),
        out_dir=directory_of("tokenizer"),
    shell:
        "python {params.script:q} {params.command}"
        " --workers {threads} --out-dir {params.out_dir:q} 2> {log:q}"


rule train_bytespan:
    input:
        unpack(from_plan(plan.tokenizers.training_inputs)),
    output:
        **layout.tokenizer_outputs(("tokenizer.json", "stats.csv")),
    log:
        layout.log("train_tokenizer"),
    benchmark:
        layout.TOKENIZER_BENCHMARK
    wildcard_constraints:
        tokenizer=names.ByteSpanName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    # one thread reads the cue, the others count spans (the global pass: one, and a reader)
    threads: 4
    resources:
        mem_mb=4000,
        runtime=720,
    params:
        script=script("train_tokenizer.py"),
        command=from_plan(plan.tokenizers.training_command),
        out_dir=directory_of("tokenizer"),
    shell:
        "python {params.script:q} {params.command} --out-dir {params.out_dir:q} 2> {log:q}"


rule byte_level_tokenizer:
    output:
        **layout.tokenizer_outputs(
            ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")
        ),
    log:
        layout.log("train_tokenizer"),
    wildcard_constraints:
        tokenizer=names.ByteLevelName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("train_tokenizer.py"),
        command=from_plan(plan.tokenizers.training_command),
        out_dir=directory_of("tokenizer"),
    shell:
        "python {params.script:q} {params.command} --out-dir {params.out_dir:q} 2> {log:q}"


rule fetch_pretrained_tokenizer:
    output:
        **layout.tokenizer_outputs(("tokenizer.json", "tokenizer_config.json")),
    log:
        layout.log("train_tokenizer"),
    wildcard_constraints:
        tokenizer=names.PretrainedName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        script=script("train_tokenizer.py"),
        command=from_plan(plan.tokenizers.training_command),
        out_dir=directory_of("tokenizer"),
    shell:
        "python {params.script:q} {params.command} --out-dir {params.out_dir:q} 2> {log:q}"


rule tfree_word_counts:
    input:
        unpack(from_plan(plan.tfree.word_count_inputs)),
    output:
        layout.TFREE_WORD_COUNTS,
    log:
        layout.log("tfree_word_counts"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("tfree.py"),
        corpus=prefix_of("corpus_bin"),
    shell:
        "python {params.script:q} word-counts --corpus-prefix {params.corpus:q}"
        " --output {output:q} 2> {log:q}"


rule tfree_tokenizer:
    input:
        unpack(from_plan(plan.tokenizers.training_inputs)),
    output:
        **layout.tokenizer_outputs(("tfree.json", "dictionary.tsv")),
    log:
        layout.log("tfree_tokenizer"),
    wildcard_constraints:
        tokenizer=names.TfreeName.wildcard(),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        script=script("tfree.py"),
        command=from_plan(plan.tokenizers.training_command),
        out_dir=directory_of("tfree"),
    shell:
        "python {params.script:q} {params.command} --out-dir {params.out_dir:q} 2> {log:q}"
