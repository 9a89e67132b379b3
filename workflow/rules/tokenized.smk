# Tokenized datasets: a byte corpus -> token arrays by any tokenizer (of any corpus) -> exports
# in the formats of Delphi, StochasTok/nanoGPT, CS336 and T-Free.


rule tokenize:
    input:
        unpack(get_token_array_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.TOKEN_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize"),
    wildcard_constraints:
        tokenizer=names.TokenizationName.own_pattern(),
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
        settings=get_tokenize_settings,
    shell:
        "RAYON_NUM_THREADS={threads} python {params.script:q} tokenize"
        " --tokenizer {input.tokenizer:q} --corpus-prefix {params.corpus:q}"
        " --output-prefix {params.output:q}"
        " --batch-documents {params.settings[batch_documents]} 2> {log:q}"


rule export_delphi:
    input:
        unpack(get_delphi_inputs),
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
        settings=get_delphi_settings,
    shell:
        "python {params.script:q} delphi --tokens {params.tokens:q}"
        " --tokenizer {input.tokenizer:q} --split {wildcards.subset}"
        " --seq-len {params.settings[seq_len]} --chunk-size {params.settings[chunk_size]}"
        " --out-dir {output:q} 2> {log:q}"


rule export_nanogpt:
    input:
        unpack(get_nanogpt_inputs),
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
        unpack(get_cs336_inputs),
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
        unpack(get_tfree_inputs),
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
        settings=get_tfree_settings,
    shell:
        "python {params.script:q} tfree --corpus-prefix {params.corpus:q}"
        " --output-prefix {params.output:q} --max-bytes {params.settings[max_bytes]}"
        " --tolerance {params.settings[tolerance]} 2> {log:q}"
