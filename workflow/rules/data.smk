# Data stage: sources -> disjoint subsets as parquet shards -> byte corpora with pre-token flags.


rule download:
    output:
        "resources/downloads/{filename}",
    log:
        "logs/data/download/{filename}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        script=script("download.py"),
        url=get_download_url,
    shell:
        "python {params.script:q} --url {params.url:q} --output {output:q} 2> {log:q}"


rule prepare_corpus:
    input:
        get_corpus_inputs,
    output:
        shards=directory("results/data/{corpus}/shards"),
        manifest="results/data/{corpus}/manifest.json",
    log:
        "logs/data/prepare_corpus/{corpus}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=720,
    params:
        script=script("prepare_corpus.py"),
        spec=get_corpus_spec_json,
    shell:
        "python {params.script:q} shards --corpus {wildcards.corpus}"
        " --spec-json {params.spec:q} --shards-dir {output.shards:q}"
        " --manifest {output.manifest:q} 2> {log:q}"


rule byte_corpus:
    input:
        manifest="results/data/{corpus}/manifest.json",
    output:
        bin="results/data/{corpus}/bytes/{subset}.bin",
        idx="results/data/{corpus}/bytes/{subset}.idx",
        pretok="results/data/{corpus}/bytes/{subset}.pretok",
        meta="results/data/{corpus}/bytes/{subset}.meta.json",
    log:
        "logs/data/byte_corpus/{corpus}/{subset}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 8
    resources:
        mem_mb=16000,
        runtime=240,
    params:
        script=script("prepare_corpus.py"),
        prefix=byte_corpus_prefix,
    shell:
        "python {params.script:q} bytes --manifest {input.manifest:q}"
        " --subset {wildcards.subset} --prefix {params.prefix:q} --workers {threads}"
        " 2> {log:q}"


rule demo_morphology:
    output:
        "results/data/{corpus}/morphology/{language}.csv",
    log:
        "logs/data/demo_morphology/{corpus}/{language}.log",
    conda:
        "../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        script=script("prepare_corpus.py"),
        source=get_demo_source,
    shell:
        "python {params.script:q} morphology --language {wildcards.language}"
        " --seed {params.source[seed]} --count {params.source[gold_words]}"
        " --output {output:q} 2> {log:q}"
