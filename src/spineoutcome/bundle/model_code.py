"""The models-from-code entry of a logged bundle: MLflow runs this file when it loads the model.

Logging the model as code (not as a pickled Python object) means nothing but the bundle's own
artifacts is deserialised at load time.
"""

import mlflow

from spineoutcome.bundle.pyfunc import BundleModel

mlflow.models.set_model(BundleModel())
