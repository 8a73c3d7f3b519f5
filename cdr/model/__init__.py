"""The model half of cdr, in scikit-learn's terms.

- :mod:`cdr.model.estimators`: :class:`SVMClassifier`, :class:`OrdinalClassifier`;
- :mod:`cdr.model.split`: :class:`RebalancedLeaveOneSubjectOut` and subject-level permutations;
- :mod:`cdr.model.evaluate`: :func:`evaluate` any estimator with any splitter;
- :mod:`cdr.model.metrics`: means over draws, bootstrap and Wilson intervals, Brier;
- :mod:`cdr.model.confounds`: do recording conditions alone predict the class?
- :mod:`cdr.model.store`: save and load with a card; the run manifest;
- :mod:`cdr.model.inference`: :class:`Predictor` (predict and explain one recording);
- :mod:`cdr.model.training`: what ``cdr-train`` does, for the command and the demo;
- :mod:`cdr.model.screening`: sensitivity, specificity, PPV, NPV and ROC AUC with intervals;
- :mod:`cdr.model.importance`: grouped permutation importance of a fitted model (descriptive);
- :mod:`cdr.model.applicability`: does a model apply to a recording (imputed groups, distance)?
- :mod:`cdr.model.readout`: cdr-predict's JSON object and text.

Submodules are imported on use, so that ``cdr-train --help`` stays fast.
"""
