"""The portable twin of a Spark model: an ONNX graph, its input spec, and a scorer.

A model trained by ``mlgate.ml.training`` is exported at training time by
``mlgate.export.to_onnx`` to two files logged with the same MLflow run:

- ``onnx/model.onnx``: the whole fitted PipelineModel (category indexing, one-hot
  encoding, assembling and the classifier) as one ONNX graph, computed in float64;
- ``onnx/spec.json``: what the graph expects and means (``ModelSpec``): the model-input
  fields by name and type, the vocabulary of each categorical field, the output, and the
  operating threshold of the decision.

The graph has two inputs, ``numeric`` (float64, shape [N, len(numeric fields)]) and
``categorical`` (string, shape [N, len(categorical fields)]), columns in the order of the
spec, and one output ``probability`` (float64, shape [N]): the probability of the
positive class, as Spark's ``probability[1]``. A categorical value outside the vocabulary
(or null) falls into the model's "unknown" bucket, exactly as Spark's
``StringIndexer(handleInvalid="keep")`` does; a null number is NaN, as Spark's
``VectorAssembler(handleInvalid="keep")`` makes it.

This module needs numpy and onnxruntime only (no Spark, no MLflow): the scoring service
imports it. No pickles anywhere: the graph is ONNX protobuf, the spec JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "mlgate-onnx/1"
ONNX_ARTIFACT_DIR = "onnx"
MODEL_FILE = "model.onnx"
SPEC_FILE = "spec.json"
NUMERIC_INPUT = "numeric"
CATEGORICAL_INPUT = "categorical"
PROBABILITY_OUTPUT = "probability"
# What a null categorical value is fed as: never a vocabulary entry (checked at export),
# so it lands in the unknown bucket like Spark's null.
NULL_CATEGORY = "\x00mlgate:null"


class PortableModelError(RuntimeError):
    """The exported model or its spec is missing, inconsistent or cannot be loaded."""


@dataclass(frozen=True)
class ModelSpec:
    """What the ONNX graph expects and what its output means (``spec.json``)."""

    numeric: list[str]
    categorical: list[str]
    vocabularies: dict[str, list[str]]
    operating_threshold: float
    family: str
    format: str = FORMAT
    spark_version: str = ""
    stages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fields(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["inputs"] = {
            NUMERIC_INPUT: {"dtype": "float64", "shape": ["N", len(self.numeric)]},
            CATEGORICAL_INPUT: {"dtype": "string", "shape": ["N", len(self.categorical)]},
        }
        out["output"] = {
            "name": PROBABILITY_OUTPUT,
            "dtype": "float64",
            "shape": ["N"],
            "meaning": "probability of the positive class (Spark's probability[1])",
        }
        out["decision"] = "positive when probability >= operating_threshold"
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        if data.get("format") != FORMAT:
            raise PortableModelError(
                f"spec format {data.get('format')!r} is not {FORMAT!r}: exported by another "
                "version of mlgate?"
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class PortableScorer:
    """Scores with ONNX Runtime from plain arrays or a DataFrame; thread-safe (ORT is).

    ``threads`` is ONNX Runtime's intra-op thread count: 1 is best for one-row latency
    (no thread-pool hand-off); more helps only large batches.
    """

    def __init__(self, model_bytes: bytes, spec: ModelSpec, threads: int = 1):
        import onnxruntime as ort

        self.spec = spec
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises its own Fail/InvalidGraph types
            raise PortableModelError(f"ONNX Runtime cannot load the model: {error}") from error
        names = {i.name for i in self.session.get_inputs()}
        expected = {NUMERIC_INPUT, CATEGORICAL_INPUT}
        if names != expected:
            raise PortableModelError(f"the ONNX graph has inputs {sorted(names)}, not {expected}")

    @classmethod
    def from_dir(cls, folder: Path | str, threads: int = 1) -> PortableScorer:
        """Load ``model.onnx`` and ``spec.json`` from a folder (e.g. the downloaded artefact)."""
        folder = Path(folder)
        model, spec = folder / MODEL_FILE, folder / SPEC_FILE
        for path in (model, spec):
            if not path.exists():
                raise PortableModelError(f"{path} is missing: not an exported mlgate model")
        return cls(model.read_bytes(), ModelSpec.from_dict(json.loads(spec.read_text())), threads)

    def score_arrays(self, numeric: np.ndarray, categorical: np.ndarray) -> np.ndarray:
        """Probabilities for rows given as a float64 [N, k] and an object (str) [N, c] array."""
        feeds = {
            NUMERIC_INPUT: np.ascontiguousarray(numeric, dtype=np.float64),
            CATEGORICAL_INPUT: categorical,
        }
        return self.session.run(None, feeds)[0]

    def arrays_of(self, rows) -> tuple[np.ndarray, np.ndarray]:
        """(numeric, categorical) input arrays from a pandas DataFrame with the spec's columns.

        Null numbers become NaN and null categories the unknown bucket, as in Spark.
        """
        missing = [c for c in self.spec.fields if c not in rows.columns]
        if missing:
            raise KeyError(f"the rows lack model-input columns {missing}")
        numeric = rows[self.spec.numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        categorical = rows[self.spec.categorical].astype(object)
        categorical = categorical.where(categorical.notna(), NULL_CATEGORY).to_numpy(dtype=object)
        return numeric, categorical

    def arrays_of_record(self, row: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
        """The input arrays of one row given as a mapping, nulls as ``arrays_of`` has them."""
        numeric = [[np.nan if (v := row.get(c)) is None else v for c in self.spec.numeric]]
        categorical = [
            [NULL_CATEGORY if (v := row.get(c)) is None else v for c in self.spec.categorical]
        ]
        return np.array(numeric, dtype=np.float64), np.array(categorical, dtype=object)

    def score_frame(self, rows) -> np.ndarray:
        """Probabilities for the rows of a pandas DataFrame (columns by name)."""
        if len(rows) == 0:
            return np.empty(0, dtype=np.float64)
        return self.score_arrays(*self.arrays_of(rows))


def load_from_run(run_id: str, threads: int = 1) -> PortableScorer:
    """The portable twin logged with an MLflow run (``onnx/`` artefacts), downloaded and loaded.

    Needs MLflow configured (``mlgate.registry.configure_mlflow``). Raises
    ``PortableModelError`` when the run has no ONNX twin (trained before it existed, or
    its export failed).
    """
    import tempfile

    import mlflow

    with tempfile.TemporaryDirectory(prefix="mlgate-onnx-") as tmp:
        try:
            folder = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=ONNX_ARTIFACT_DIR, dst_path=tmp
            )
        except Exception as error:  # MlflowException, OSError: no such artefact
            raise PortableModelError(
                f"run {run_id} has no {ONNX_ARTIFACT_DIR}/ artefact (no portable twin): {error}"
            ) from error
        return PortableScorer.from_dir(folder, threads=threads)
