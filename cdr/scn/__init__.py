"""Self-Cure Network (Wang et al., CVPR 2020) for facial-expression recognition.

- :mod:`cdr.scn.model`: ResNet-18 + importance head (``SCN``, ``build_scn``).
- :mod:`cdr.scn.losses`: rank regularisation, logit-weighted cross-entropy.
- :mod:`cdr.scn.relabel`: the relabelling rule and the trainer's label table.
- :mod:`cdr.scn.data`: RAF-DB, FERPlus, ImageFolder and digits loaders; label noise.
- :mod:`cdr.scn.train`: ``TrainConfig`` and ``SCNTrainer``.
- :mod:`cdr.scn.checkpoint`: safe saving and loading of ``model.pt`` + ``config.json``.
- :mod:`cdr.scn.embed`: ``ExpressionEmbedder``, the per-video ``expr.`` features.
"""
