"""Radiomics export of the synthetic cohort: PyRadiomics-named features, mostly noise.

Each feature is a standardised score ``z = sqrt(b) F_block + sqrt(f) G_family + sqrt(1-b-f) E``:
``F`` is shared by the features of one image type and class (block correlation, as in real
PyRadiomics output), ``G`` by the same feature across image types, ``E`` is the feature's own
noise. A per-centre shift of every block mimics scanner/protocol effects (DOMAIN.md), and a few
features carry signal from the true lesion size or the latent progression propensity. Features
are ``loc + scale * z`` (or its exponential for positive classes). Patients without a
segmentation have no row (MAR: more often in DCM and in one centre).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from spineoutcome.data.synth_followup import Frame
from spineoutcome.data.synth_model import CohortModel, PatientBlock


def radiomics(model: CohortModel, block: PatientBlock) -> Frame:
    """The radiomics table of one block (rows only for segmented patients)."""
    spec, n = model.config.radiomics, block.n
    block_of = np.asarray(spec.block)
    family_of = np.asarray(spec.family)
    rng = block.rng("radiomics")
    shared = rng.standard_normal((n, block_of.max() + 1))[:, block_of]
    family = rng.standard_normal((n, family_of.max() + 1))[:, family_of]
    own = rng.standard_normal((n, len(spec.features)))
    own_loading = np.sqrt(1.0 - spec.block_loading - spec.feature_loading)
    z = np.sqrt(spec.block_loading) * shared + np.sqrt(spec.feature_loading) * family + own_loading * own
    z += model.centre_normal("radiomics.shift", spec.centre_shift_sd, block_of.max() + 1)[block.centre][:, block_of]
    for name, linear in spec.signal.items():
        z[:, spec.features.index(name)] += model.predictor(f"radiomics.signal.{name}", linear, block)
    values = np.asarray(spec.loc) + np.asarray(spec.scale) * z
    positive = np.asarray(spec.lognormal)
    values[:, positive] = np.exp(values[:, positive])
    segmented = rng.random(n) >= expit(model.predictor("radiomics.missing", spec.missing, block))
    frame: Frame = {model.dictionary.key: np.arange(n)[segmented]}
    rounded = np.round(values[segmented], spec.decimals) + 0.0
    frame.update({name: rounded[:, j] for j, name in enumerate(spec.features)})
    return frame
