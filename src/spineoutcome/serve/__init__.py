"""``spineoutcome serve``: the surgeon's calculator and the EHR's JSON API over verified model bundles.

    >>> from spineoutcome.serve import ServeSettings, create_app, load_models
    >>> app = create_app(load_models(["models:/c5_palsy@champion"]), ServeSettings.from_env())

- :func:`load_models`: load and verify the models once, at start-up (:mod:`.models`);
- :func:`create_app`: the FastAPI application (:mod:`.app`): calculator page, what-if, risk-sheet
  PDF, ``POST /api/v1/predict``, ``GET /health``, ``GET /openapi.json``;
- :class:`Engine`: JSON or form values -> every model's results (:mod:`.engine`);
- :class:`ServeSettings`: loopback, token from the environment, CORS off, request limits
  (:mod:`.settings`); security headers and the patient-free access log (:mod:`.security`);
- the command ``spineoutcome serve`` (:mod:`.command`).
"""

from spineoutcome.serve.app import create_app
from spineoutcome.serve.engine import Batch, Engine
from spineoutcome.serve.models import ServedModel, load_models, serve_models
from spineoutcome.serve.settings import TOKEN_ENV, ServeSettings, SettingsError

__all__ = [
    "TOKEN_ENV",
    "Batch",
    "Engine",
    "ServeSettings",
    "ServedModel",
    "SettingsError",
    "create_app",
    "load_models",
    "serve_models",
]
