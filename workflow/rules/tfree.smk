# T-Free: hashed trigram words instead of a token vocabulary. The words of a subset are counted
# once; each hasher is a tokenizer directory (its settings and a dictionary of the most frequent
# words); a hasher splits subsets into word arrays, and the chunks of their T-Free exports into
# aligned word arrays (the original's samples), that T-Free LMs train on (rule train_lm);
# T-Free's tables compare its fertility and its parameters with token vocabularies.


rule tfree_word_counts:
    input:
        unpack(get_tfree_word_count_inputs),
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
        unpack(get_tfree_tokenizer_inputs),
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
        hasher=get_tfree_tokenizer_params,
        out_dir=directory_of("tfree"),
    shell:
        "python {params.script:q} tokenizer --counts {input.counts:q}"
        " --v {params.hasher[v]} --m {params.hasher[m]} --k {params.hasher[k]}"
        " {params.hasher[entire_words]} --words {params.hasher[words]}"
        " --out-dir {params.out_dir:q} 2> {log:q}"


rule tokenize_words:
    input:
        unpack(get_word_array_inputs),
    output:
        **layout.files_of(layout.TOKEN_ARRAY, layout.WORD_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize_words"),
    wildcard_constraints:
        tokenizer=names.TfreeName.wildcard(),
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
        unpack(get_aligned_word_array_inputs),
    output:
        **layout.files_of(layout.ALIGNED_WORD_ARRAY, layout.ALIGNED_WORD_ARRAY_SUFFIXES),
    log:
        layout.log("tokenize_aligned_words"),
    wildcard_constraints:
        tokenizer=names.TfreeName.wildcard(),
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


rule tfree_fertility_table:
    input:
        unpack(get_tfree_fertility_inputs),
    output:
        report(
            layout.table("tfree_fertility"),
            caption="../report/tfree_fertility.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="tfree_fertility"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        script=script("tfree.py"),
        options=get_tfree_fertility_options,
    shell:
        "python {params.script:q} fertility-table --manifest {input.manifest:q}"
        " {params.options} --output {output:q} 2> {log:q}"


rule tfree_params_table:
    input:
        presets=plan.resource("resources/model_presets.yaml"),
    output:
        report(
            layout.table("tfree_params"),
            caption="../report/tfree_params.rst",
            category="Tables",
        ),
    log:
        layout.log("table", table="tfree_params"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        script=script("tfree.py"),
        options=get_tfree_params_options,
    shell:
        "python {params.script:q} params-table --presets {input.presets:q} {params.options}"
        " --output {output:q} 2> {log:q}"
