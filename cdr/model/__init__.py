"""The model half of cdr, in scikit-learn's terms.

- :mod:`cdr.model.estimators`: :class:`SVMClassifier`, :class:`OrdinalClassifier`;
- :mod:`cdr.model.split`: :class:`RebalancedLeaveOneSubjectOut` and subject-level permutations;
- :mod:`cdr.model.evaluate`: :func:`evaluate` any estimator with any splitter;
- :mod:`cdr.model.metrics`: means over draws, bootstrap and Wilson intervals, Brier;
- :mod:`cdr.model.confounds`: do recording conditions alone predict the class?
- :mod:`cdr.model.store`: save and load with a card; the run manifest;
- :mod:`cdr.model.inference`: :class:`Predictor` (predict and explain one recording);
- :mod:`cdr.model.training`: what ``cdr-train`` does, for the command and the demo.

Submodules are imported on use, so that ``cdr-train --help`` stays fast.
"""
