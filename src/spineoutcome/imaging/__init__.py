"""Imaging-derived predictors: landmark parameters and radiomics.

Landmarks: keypoints exported by a detection model or annotator (landmarks.yaml names them) ->
sagittal alignment and OPLL parameters (:func:`measure_parameters`), and the inverse for the
synthetic cohort (:func:`synthesize_keypoints`). Radiomics: intake of PyRadiomics tables and
scikit-learn selectors that learn only in ``fit`` (for use inside cross-validation pipelines).
"""

from spineoutcome.imaging.catalogue import (
    CatalogueError,
    Landmark,
    LandmarkCatalogue,
    ParameterSpec,
)
from spineoutcome.imaging.landmarks import (
    KeypointError,
    KeypointIssue,
    LandmarkMeasurements,
    measure_parameters,
    read_keypoints,
    validate_keypoints,
)
from spineoutcome.imaging.radiomics import (
    CorrelationFilter,
    ICCFilter,
    LassoSelector,
    NearZeroVarianceFilter,
    RadiomicsFeatureName,
    RadiomicsIntake,
    RadScore,
    extract_radiomics,
    intake_radiomics,
    intraclass_correlation,
    parse_feature_name,
    pyradiomics_params_path,
    radiomics_feature_pattern,
)
from spineoutcome.imaging.synthesis import synthesize_keypoints

__all__ = [
    "radiomics_feature_pattern",
    "CatalogueError",
    "CorrelationFilter",
    "ICCFilter",
    "KeypointError",
    "KeypointIssue",
    "Landmark",
    "LandmarkCatalogue",
    "LandmarkMeasurements",
    "LassoSelector",
    "NearZeroVarianceFilter",
    "ParameterSpec",
    "RadScore",
    "RadiomicsFeatureName",
    "RadiomicsIntake",
    "extract_radiomics",
    "intake_radiomics",
    "intraclass_correlation",
    "measure_parameters",
    "parse_feature_name",
    "pyradiomics_params_path",
    "read_keypoints",
    "synthesize_keypoints",
    "validate_keypoints",
]
