"""``python -m spineoutcome.distributed worker|optuna-init|spark-score ...``"""

from spineoutcome.distributed.command import app

app(prog_name="python -m spineoutcome.distributed")
