"""The FastAPI application: the surgeon's calculator and the EHR API over verified model bundles.

Routes:

- ``GET /``: the calculator (one field per predictor of every served model);
  ``POST /``: the same page with every model's result for the patient entered;
  ``POST /whatif``: two scenarios side by side; ``POST /sheet``: the risk-sheet PDF download.
  Patient values travel only in POST bodies, never in URLs (which end up in logs and histories);
- ``POST /api/v1/predict``: JSON in, one prediction per patient and model out
  (:mod:`.schemas`); an unusable value gives that patient a problem entry, never a server error;
- ``GET /api/v1/models``: what is served: models, their verification and input contracts;
- ``GET /health``: liveness; ``GET /openapi.json``: the API description (no bundled Swagger UI,
  which would load scripts from the internet).

The API needs ``Authorization: Bearer <token>`` when a token is configured
(:class:`.ServeSettings`); every response carries the security headers of
:class:`.HospitalMiddleware`; CORS is off unless origins are configured; Host headers outside
``allowed_hosts`` get 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool

from spineoutcome import __version__
from spineoutcome.dictionary import DataDictionary
from spineoutcome.serve.engine import Engine
from spineoutcome.serve.form import BASE_PREFIX, form_fields, patient_values, read_form
from spineoutcome.serve.models import ServedModel
from spineoutcome.serve.schemas import Health, PredictRequest, PredictResponse
from spineoutcome.serve.security import HospitalMiddleware, bearer_guard
from spineoutcome.serve.settings import ServeSettings
from spineoutcome.serve.views import Views

SHEET_PATIENT = "sheet.patient"
"""Form field of the name or key printed on the risk sheet (never scored, never logged)."""
ROUTES = (
    "/",
    "/whatif",
    "/sheet",
    "/api/v1/predict",
    "/api/v1/models",
    "/health",
    "/openapi.json",
    "/static/style.css",
)


def create_app(
    served: Sequence[ServedModel], settings: ServeSettings | None = None, *, dictionary: DataDictionary | None = None
) -> FastAPI:
    """The application over already loaded and verified models (:func:`.load_models`)."""
    settings = settings or ServeSettings()
    dictionary = dictionary or DataDictionary.load()
    engine = Engine(served)
    fields = form_fields(served)
    views = Views(served, fields, dictionary, token_required=settings.token is not None)
    described = [s.describe() for s in served]
    guard = bearer_guard(settings.token)
    style = resources.files("spineoutcome.serve").joinpath("static", "style.css").read_text(encoding="utf-8")

    app = FastAPI(
        title="spineoutcome serve",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        description="Pre-operative risk from verified spineoutcome model bundles: calibrated risk, 95 % "
        "band, risk group, main drivers in words and data checks, for every served model. "
        "Patient data is never logged.",
    )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def calculator() -> HTMLResponse:
        return HTMLResponse(views.calculator())

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def calculate(request: Request) -> HTMLResponse:
        values = patient_values(read_form(await request.body()), fields)
        batch = await _run(engine.score, [values])
        return HTMLResponse(views.calculator(values, batch))

    @app.post("/whatif", response_class=HTMLResponse, include_in_schema=False)
    async def whatif(request: Request) -> HTMLResponse:
        form = read_form(await request.body())
        base, other = patient_values(form, fields, BASE_PREFIX), patient_values(form, fields)
        batch = await _run(engine.score, [base, other])
        return HTMLResponse(views.whatif(base, other, batch))

    @app.post("/sheet", include_in_schema=False)
    async def sheet(request: Request) -> Response:
        form = read_form(await request.body())
        values = patient_values(form, fields)
        batch = await _run(engine.score, [values])
        pdf = await _run(views.sheet, values, batch, form.get(SHEET_PATIENT, "").strip())
        if pdf is None:
            return HTMLResponse(views.calculator(values, batch), status_code=422)
        return Response(
            pdf, media_type="application/pdf", headers={"content-disposition": 'attachment; filename="risk-sheet.pdf"'}
        )

    request_schema = PredictRequest.model_json_schema(ref_template="#/components/schemas/{model}")

    @app.post(
        "/api/v1/predict",
        response_model=PredictResponse,
        dependencies=[Depends(guard)],
        summary="Risk for one or more patients from every served model",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}}},
        responses={
            401: {"description": "A token is configured and the request lacks it"},
            413: {"description": "Body larger than the server's limit"},
            422: {"description": "Not a JSON object with a list of patients, or too many patients"},
        },
    )
    async def predict(
        request: Request,
        explain: Annotated[bool, Query(description="Compute the three main drivers (SHAP); false is faster.")] = True,
    ) -> Response:
        """One prediction per patient and served model (schema: PredictResponse). A value that breaks the
        input contract gives that patient a problem entry and no probability for the models that read it."""
        try:  # pydantic's own JSON parser; errors without the input (it may be a patient's data)
            body = PredictRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"detail": exc.errors(include_url=False, include_input=False)}, status_code=422)
        if len(body.patients) > settings.max_patients:
            return JSONResponse({"detail": f"at most {settings.max_patients} patients per request"}, status_code=422)
        batch = await _run(engine.score, body.patients, explain=explain)
        answer = {"models": described, "predictions": batch.predictions()}
        return Response(to_json(answer), media_type="application/json")

    @app.get("/api/v1/models", dependencies=[Depends(guard)], summary="The served models and their input contracts")
    def models() -> dict[str, Any]:
        return {"models": [{**d, "contract": s.contract.to_dict()} for d, s in zip(described, served, strict=True)]}

    @app.get("/health", response_model=Health, summary="Liveness")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": [{"name": d["name"], "verification": d["verification"]} for d in described]}

    @app.get("/static/style.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(style, media_type="text/css")

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if settings.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))
    app.add_middleware(HospitalMiddleware, routes=ROUTES, max_body_bytes=settings.max_body_bytes, tls=settings.tls)
    return app


async def _run(function: Any, *args: Any, **kwargs: Any) -> Any:
    """CPU-bound work off the event loop (models are locked per scorer, see :mod:`.models`)."""
    return await run_in_threadpool(function, *args, **kwargs)
