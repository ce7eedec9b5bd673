"""helpers: the reusable code of the course *Fine-tuning text embeddings on your domain*.

One module per stage, imported by the numbered notebooks:

- :mod:`helpers.data`        -- datasets, strict loading, the two split protocols
- :mod:`helpers.lesson_data` -- what a lesson runs on: a dataset, your folder, labelled or not
- :mod:`helpers.models`      -- offline models by short name (``minilm``, ``mpnet``)
- :mod:`helpers.evaluation`  -- exact search, recall/nDCG/MRR, paired bootstrap, embedding cache
- :mod:`helpers.retrieval`   -- BM25, hybrid fusion (RRF, weighted), reranking          (Lesson 1)
- :mod:`helpers.diagnosis`   -- failure modes, error clusters, the course's verdict     (Lesson 1)
- :mod:`helpers.pilot`       -- a short pilot fine-tune on dev, and the verdict from it (Lesson 1)
- :mod:`helpers.losses`      -- triplet loss and InfoNCE written out                    (Lesson 2)
- :mod:`helpers.mining`      -- hard negatives: dense/BM25/fused, windows, margins, judge (Lesson 3)
- :mod:`helpers.synthetic`   -- LLM-written queries: backends, cache, filters           (Lesson 4)
- :mod:`helpers.deployment`  -- forgetting, interpolation, gate, versions, indexes       (Lesson 5)
- :mod:`helpers.corpus`      -- your own documents: formats, checks, chunks              (Lesson 6)
- :mod:`helpers.labelled`    -- your own labelled queries: search logs, training qrels, splits
- :mod:`helpers.pipeline`    -- raw documents to a gated model (``python -m helpers finetune``)
- :mod:`helpers.report`      -- that run's report, Markdown and HTML
- :mod:`helpers.training`    -- fine-tuning with ``SentenceTransformerTrainer``
- :mod:`helpers.experiments` -- tables of fine-tunes, each row with lift and CI
- :mod:`helpers.ladder`      -- the recipe ladder: each rung a fine-tune, settings chosen on dev
- :mod:`helpers.reproduce`   -- the lift table and the ladder (``python -m helpers reproduce``)
"""

__version__ = "0.1.0"
