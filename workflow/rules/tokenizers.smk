# Tokenizers stage: byte corpus of the training subset -> HF tokenizer.json (+ vocab, merges).


rule train_bpe:
    input:
        unpack(get_bpe_training_corpus),
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
        bpe=get_bpe_params,
        prefix=prefix_of("train_bin"),
        out_dir=directory_of("tokenizer"),
    shell:
        "python {params.script:q} bpe --corpus-prefix {params.prefix:q}"
        " --vocab-size {params.bpe[vocab_size]} {params.bpe[specials]}"
        " --min-frequency {params.bpe[min_frequency]} --backend {params.bpe[backend]}"
        " --workers {threads} --out-dir {params.out_dir:q} 2> {log:q}"


rule train_bytespan:
    input:
        unpack(get_bytespan_inputs),
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
    threads: 1
    resources:
        mem_mb=32000,
        runtime=720,
    params:
        script=script("train_tokenizer.py"),
        bytespan=get_bytespan_params,
        corpus=prefix_of("corpus_bin"),
        out_dir=directory_of("tokenizer"),
    shell:
        "python {params.script:q} bytespan --corpus-prefix {params.corpus:q}"
        " --predictions {input.predictions:q} --cue {params.bytespan[cue]}"
        " --constraint {params.bytespan[constraint]}"
        " --percentile {params.bytespan[percentile]}"
        " --vocab-size {params.bytespan[vocab_size]}"
        " --min-frequency {params.bytespan[min_frequency]}"
        " --variant {params.bytespan[variant]} --inference {params.bytespan[inference]}"
        " --manifest {input.manifest:q} --subset {params.bytespan[subset]}"
        " {params.bytespan[specials]} --out-dir {params.out_dir:q} 2> {log:q}"
