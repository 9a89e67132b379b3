"""The data stage: corpus sources, disjoint subsets as parquet shards, and byte corpora."""

from toklab.data.byte_corpus import ByteCorpus, write_byte_corpus
from toklab.data.corpus import CorpusSpec, SubsetSpec, prepare_corpus
from toklab.data.document import Document
from toklab.data.sources import open_source

__all__ = [
    "ByteCorpus",
    "CorpusSpec",
    "Document",
    "SubsetSpec",
    "open_source",
    "prepare_corpus",
    "write_byte_corpus",
]
