"""Hyperparameter search, several seeds, and comparing runs, on the run API.

- ``search.py`` (``--tune``): a search over a search-space file (``space.py``) on Ray Tune with
  Optuna (``engine.py``, imported only when a search runs: the ``tune`` extra); each trial
  (``trial.py``) runs its seeds in child processes and reports every evaluation.
- ``seeds.py`` (``--seeds``): one config, several seeds, into a group folder.
- ``compare.py`` (``--compare``): runs and groups side by side: curves, final and best scores,
  time to threshold (mean ± std, or IQM with bootstrap intervals).

Glossary: a *trial* is one configuration of a search, run with every seed of the search; its
*score* is the search's metric over the mean over seeds of its evaluations; a *group* is a
folder of task directories (the seeds of one config); a *line* is what a comparison draws
for a group, or for loose runs of one config.
"""
