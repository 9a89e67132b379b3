# Data stage: sources -> disjoint subsets as parquet shards -> byte corpora with pre-token flags.


rule download:
    output:
        layout.DOWNLOAD,
    log:
        layout.log("download"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        script=script("download.py"),
        url=from_plan(plan.data.download_url),
    shell:
        "python {params.script:q} --url {params.url:q} --output {output:q} 2> {log:q}"


rule prepare_corpus:
    input:
        from_plan(plan.data.source_files),
    output:
        shards=directory(layout.SHARDS),
        manifest=layout.MANIFEST,
    log:
        layout.log("prepare_corpus"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("prepare_corpus.py"),
        spec=from_plan(plan.data.corpus_spec),
    shell:
        "python {params.script:q} shards --corpus {wildcards.corpus}"
        " --spec-json {params.spec:q} --shards-dir {output.shards:q}"
        " --manifest {output.manifest:q} 2> {log:q}"


rule byte_corpus:
    input:
        manifest=layout.MANIFEST,
    output:
        **layout.byte_corpus_outputs(),
    log:
        layout.log("byte_corpus"),
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=240,
    params:
        script=script("prepare_corpus.py"),
        prefix=prefix_of("bin"),
    shell:
        "python {params.script:q} bytes --manifest {input.manifest:q}"
        " --subset {wildcards.subset} --prefix {params.prefix:q} --workers {threads}"
        " 2> {log:q}"


rule demo_morphology:
    output:
        layout.MORPHOLOGY,
    log:
        layout.log("demo_morphology"),
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("prepare_corpus.py"),
        source=from_plan(plan.data.demo_source),
    shell:
        "python {params.script:q} morphology --language {wildcards.language}"
        " --seed {params.source[seed]} --count {params.source[gold_words]}"
        " --output {output:q} 2> {log:q}"
