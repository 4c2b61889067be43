"""After development: external validation, model updating and in-use monitoring of a registered model.

- :mod:`.evaluate`: ``spineoutcome evaluate``, the external validation of a model on a new site's
  exports with outcomes (labels from the model's own outcome definition), each number beside the
  development estimate; :mod:`.casemix` compares the case-mix; a :class:`.ValidationEvidence`.
- :mod:`.update`: ``spineoutcome update``, model updating chosen by closed testing (Vergouwe et al.,
  Stat Med 2017), registered as a new version with its lineage; an :class:`.UpdateEvidence`.
- :mod:`.monitor`: ``spineoutcome monitor``, input drift (PSI per predictor, out-of-distribution
  share) and calibration drift (O:E, calibration-in-the-large, slope, CUSUM) by period.

Modules are imported where used: this package's import has no side effects and pulls in nothing.
"""
