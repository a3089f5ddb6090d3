"""Export a fitted Spark PipelineModel to ONNX, faithfully (float64 end to end).

Why not onnxmltools' Spark ML converter as it is? It was tried first (onnxmltools 1.16,
pyspark 4.3) on this pipeline and is not faithful to Spark, for three reasons:

1. ``StringIndexer(handleInvalid="keep")``: its ``LabelEncoder`` maps an unseen (or null)
   category to -1, i.e. an all-zero one-hot vector; Spark maps it to the extra "unknown"
   index ``len(labels)``, which has its own one-hot slot.
2. Tree splits on one-hot slots: Spark trees treat the binary one-hot attributes as
   categorical features and store *categorical* splits (``value in leftCategories``);
   the converter writes every split as ``value <= leftCategoriesOrThreshold[0]``, so a
   split whose left category is 1.0 sends every row left. On a toy pipeline this gave
   probabilities off by up to 0.53.
3. float32: ONNX ``TreeEnsembleClassifier`` (ai.onnx.ml v1-3) compares float32 inputs
   with float32 thresholds. Spark compares doubles; an amount sum of 123456.785 and a
   threshold of 123456.78 collapse to the same float32, so a row can take the other branch
   of a tree and its probability moves by up to 1/numTrees.

So this module builds the graph itself with ``onnx.helper``, one block per Spark stage,
mirroring Spark's arithmetic:

- ``ImputerModel`` -> ``Where(IsNaN(x), surrogate, x)`` per column, with the fitted
  surrogates as float64 constants (ai.onnx.ml's ``Imputer`` keeps them as float32, which
  would move a value across a split threshold);
- ``StringIndexerModel`` -> ``LabelEncoder`` (ai.onnx.ml) with the fitted labels and
  ``default_int64 = len(labels)`` (the unknown bucket, as ``handleInvalid="keep"``);
- ``OneHotEncoderModel`` -> ``OneHotEncoder`` (ai.onnx.ml, ``zeros=1``) over the slots
  Spark keeps (``categorySize`` + 1 if ``handleInvalid="keep"``, - 1 if ``dropLast``);
- ``VectorAssembler`` -> ``Concat`` in float64, in the assembler's column order;
- ``RandomForestClassificationModel`` -> ``TreeEnsemble`` (ai.onnx.ml opset 5, float64
  thresholds): each leaf adds its class-1 share ``stats[1] / sum(stats)``, divided by the
  number of trees (Spark's votes normalised to a probability);
- ``GBTClassificationModel`` -> ``TreeEnsemble`` summing ``treeWeight * prediction`` (the
  margin), then ``1 / (1 + exp(-2 * margin))`` (Spark's log-loss probability);
- ``LogisticRegressionModel`` (binomial) -> ``MatMul`` + intercept + ``Sigmoid``.

Continuous splits are ``BRANCH_LEQ`` (``x <= t`` goes left; NaN goes right, as in Spark);
a categorical split with one left category is ``BRANCH_EQ``, with several ``BRANCH_MEMBER``.
Tree structure is read from the model's own saved data (``model.write().save``), the same
files Spark reads back.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from mlgate.export.portable import (
    CATEGORICAL_INPUT,
    MODEL_FILE,
    NULL_CATEGORY,
    NUMERIC_INPUT,
    ONNX_ARTIFACT_DIR,
    PROBABILITY_OUTPUT,
    SPEC_FILE,
    ModelSpec,
)
from mlgate.runs import TAG_ONNX_EXPORT

log = logging.getLogger(__name__)

ONNX_OPSET = 21
ML_OPSET = 5  # TreeEnsemble with float64 thresholds and leaf weights
IR_VERSION = 10  # what onnxruntime >= 1.20 reads

# TreeEnsemble (ai.onnx.ml v5) node modes
_LEQ, _EQ, _MEMBER = 0, 4, 6


class ExportError(RuntimeError):
    """A stage or setting the exporter cannot reproduce faithfully; the message says which."""


class _Graph:
    """A tiny builder: unique names, nodes and initialisers."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str | None = None, domain: str = "", **attrs):
        from onnx import helper

        out = self.name(hint or op.lower())
        self.nodes.append(
            helper.make_node(op, inputs, [out], name=self.name(op), domain=domain, **attrs)
        )
        return out


def _stage_kind(stage) -> str:
    return type(stage).__name__


def _input_cols(stage) -> list[str]:
    if stage.isSet("inputCols"):
        return list(stage.getInputCols())
    return [stage.getInputCol()]


def _output_cols(stage) -> list[str]:
    if stage.isSet("outputCols"):
        return list(stage.getOutputCols())
    return [stage.getOutputCol()]


def tree_table(spark, tree_model) -> list[dict]:
    """The nodes of every tree of a Spark tree-ensemble model, from its saved data.

    Returns [{"tree": id, "nodes": {node id: node dict}, "root": id}, ...] in tree order.
    """
    with tempfile.TemporaryDirectory(prefix="mlgate-onnx-") as tmp:
        path = str(Path(tmp) / "model")
        tree_model.write().overwrite().save(path)
        frame = spark.read.parquet(f"{path}/data").select("treeID", "nodeData.*").toPandas()
    trees = []
    for tree_id, group in frame.groupby("treeID", sort=True):
        nodes = {int(row["id"]): row for row in group.to_dict("records")}
        # the root is the node nobody points at
        children = {int(c) for n in nodes.values() for c in (n["leftChild"], n["rightChild"])}
        roots = [i for i in nodes if i not in children]
        if len(roots) != 1:
            raise ExportError(f"tree {tree_id}: cannot find its root (candidates {roots})")
        trees.append({"tree": int(tree_id), "nodes": nodes, "root": roots[0]})
    return trees


def tree_ensemble_attributes(trees: list[dict], leaf_value) -> dict:
    """ai.onnx.ml TreeEnsemble (opset 5) attributes for trees read by ``tree_table``.

    ``leaf_value(tree_index, node)`` is the weight a leaf adds to the single target.
    """
    from onnx import numpy_helper

    feature_ids, splits, modes = [], [], []
    true_ids, true_leafs, false_ids, false_leafs = [], [], [], []
    members: list[float] = []
    roots, leaf_weights = [], []

    for index, tree in enumerate(trees):
        nodes = tree["nodes"]
        interior_of: dict[int, int] = {}
        leaf_of: dict[int, int] = {}

        def is_leaf(node) -> bool:
            return int(node["leftChild"]) < 0

        # number the interior nodes and the leaves of this tree (pre-order)
        stack = [tree["root"]]
        order = []
        while stack:
            node_id = stack.pop()
            node = nodes[node_id]
            if is_leaf(node):
                leaf_of[node_id] = len(leaf_weights)
                leaf_weights.append(float(leaf_value(index, node)))
            else:
                interior_of[node_id] = len(feature_ids) + len(order)
                order.append(node_id)
                stack += [int(node["rightChild"]), int(node["leftChild"])]

        if not order:  # a single leaf: one dummy split whose branches both reach it
            root_leaf = leaf_of[tree["root"]]
            roots.append(len(feature_ids))
            feature_ids.append(0)
            splits.append(0.0)
            modes.append(_LEQ)
            true_ids.append(root_leaf)
            true_leafs.append(1)
            false_ids.append(root_leaf)
            false_leafs.append(1)
            continue

        roots.append(interior_of[tree["root"]])
        for node_id in order:
            node = nodes[node_id]
            split = node["split"]
            values = [float(v) for v in split["leftCategoriesOrThreshold"]]
            feature_ids.append(int(split["featureIndex"]))
            if int(split["numCategories"]) < 0:  # continuous: x <= threshold goes left
                modes.append(_LEQ)
                splits.append(values[0])
            elif len(values) == 1:  # categorical, one left category: x == c goes left
                modes.append(_EQ)
                splits.append(values[0])
            else:  # categorical: x in {c1, c2, ...} goes left
                modes.append(_MEMBER)
                splits.append(0.0)
                if members:
                    members.append(float("nan"))
                members += values
            for child, ids, leafs in (
                (int(node["leftChild"]), true_ids, true_leafs),
                (int(node["rightChild"]), false_ids, false_leafs),
            ):
                if child in leaf_of:
                    ids.append(leaf_of[child])
                    leafs.append(1)
                else:
                    ids.append(interior_of[child])
                    leafs.append(0)

    attrs = {
        "n_targets": 1,
        "aggregate_function": 1,  # SUM
        "post_transform": 0,
        "tree_roots": roots,
        "nodes_featureids": feature_ids,
        "nodes_splits": numpy_helper.from_array(np.asarray(splits, dtype=np.float64)),
        "nodes_modes": numpy_helper.from_array(np.asarray(modes, dtype=np.uint8)),
        "nodes_truenodeids": true_ids,
        "nodes_trueleafs": true_leafs,
        "nodes_falsenodeids": false_ids,
        "nodes_falseleafs": false_leafs,
        "leaf_targetids": [0] * len(leaf_weights),
        "leaf_weights": numpy_helper.from_array(np.asarray(leaf_weights, dtype=np.float64)),
    }
    if members:
        attrs["membership_values"] = numpy_helper.from_array(np.asarray(members, np.float64))
    return attrs


def _random_forest_leaf(num_trees: int):
    def value(_tree: int, node) -> float:
        stats = [float(s) for s in node["impurityStats"]]
        total = sum(stats)
        if total == 0:
            raise ExportError("a random-forest leaf has no instances: cannot form its vote")
        if len(stats) != 2:
            raise ExportError(f"only binary classifiers are exported ({len(stats)} classes)")
        return stats[1] / total / num_trees

    return value


def _classifier(g: _Graph, model, features: str, spark) -> tuple[str, str]:
    """The probability of class 1, shape [N], from the assembled float64 features."""
    kind = _stage_kind(model)
    if getattr(model, "numClasses", 2) != 2:
        raise ExportError(f"{kind}: only binary classifiers are exported")
    if kind == "RandomForestClassificationModel":
        trees = tree_table(spark, model)
        attrs = tree_ensemble_attributes(trees, _random_forest_leaf(len(trees)))
        votes = g.node("TreeEnsemble", [features], "votes", domain="ai.onnx.ml", **attrs)
        return votes, "random_forest"
    if kind == "GBTClassificationModel":
        if model.getLossType() != "logistic":
            raise ExportError(f"GBT loss {model.getLossType()!r}: only 'logistic' is exported")
        weights = [float(w) for w in model.treeWeights]
        trees = tree_table(spark, model)
        attrs = tree_ensemble_attributes(
            trees, lambda index, node: weights[index] * float(node["prediction"])
        )
        margin = g.node("TreeEnsemble", [features], "margin", domain="ai.onnx.ml", **attrs)
        scaled = g.node("Mul", [margin, g.const("minus_two", np.array(-2.0))])
        denominator = g.node("Add", [g.node("Exp", [scaled]), g.const("one", np.array(1.0))])
        return g.node("Reciprocal", [denominator], "gbt_probability"), "gbt"
    if kind == "LogisticRegressionModel":
        if model.numClasses != 2 or model.getFamily() == "multinomial":
            raise ExportError("only binomial logistic regression is exported")
        coefficients = np.asarray(model.coefficients.toArray(), dtype=np.float64).reshape(-1, 1)
        margin = g.node(
            "Add",
            [
                g.node("MatMul", [features, g.const("coefficients", coefficients)]),
                g.const("intercept", np.array([model.intercept], dtype=np.float64)),
            ],
            "margin",
        )
        return g.node("Sigmoid", [margin], "lr_probability"), "logistic_regression"
    raise ExportError(
        f"{kind}: no faithful ONNX export (supported: random forest, GBT, logistic regression)"
    )


def export_pipeline(
    model,
    *,
    numeric: list[str],
    categorical: list[str],
    operating_threshold: float,
    spark,
):
    """(onnx ModelProto, ModelSpec) for a fitted PipelineModel built by mlgate.ml.training.

    Raises ``ExportError`` naming the stage or setting that cannot be reproduced.
    """
    import onnx
    from onnx import TensorProto, helper

    g = _Graph()
    stages = list(model.stages)
    notes: list[str] = []

    # Columns available as graph tensors: name -> (tensor, kind, width)
    numeric_index = {name: i for i, name in enumerate(numeric)}
    categorical_index = {name: i for i, name in enumerate(categorical)}
    tensors: dict[str, tuple[str, int]] = {}  # column -> (float64 tensor [N, width], width)
    indexed: dict[str, tuple[str, int]] = {}  # indexed column -> (int64 tensor [N,1], size)
    vocabularies: dict[str, list[str]] = {}

    def numeric_column(column: str) -> str:
        return g.node(
            "Gather",
            [NUMERIC_INPUT, g.const("column", np.array([numeric_index[column]], np.int64))],
            column,
            axis=1,
        )

    for stage in stages[:-1]:
        kind = _stage_kind(stage)
        if kind == "ImputerModel":
            missing = float(stage.getMissingValue())
            if not np.isnan(missing):
                raise ExportError(
                    f"Imputer missingValue={missing}: only NaN (and null) is exported"
                )
            surrogates = stage.surrogateDF.collect()[0].asDict()
            for source, target in zip(_input_cols(stage), _output_cols(stage)):
                if source not in numeric_index:
                    raise ExportError(f"Imputer input {source!r} is not a numeric field")
                raw = numeric_column(source)
                tensors[target] = (
                    g.node(
                        "Where",
                        [
                            g.node("IsNaN", [raw], f"{source}_missing"),
                            g.const("surrogate", np.array([[surrogates[source]]], np.float64)),
                            raw,
                        ],
                        target,
                    ),
                    1,
                )
        elif kind == "StringIndexerModel":
            if stage.getHandleInvalid() != "keep":
                raise ExportError(
                    f"StringIndexer handleInvalid={stage.getHandleInvalid()!r}: only 'keep' "
                    "is exported (unseen categories get the unknown bucket)"
                )
            for source, target, labels in zip(
                _input_cols(stage), _output_cols(stage), stage.labelsArray
            ):
                if source not in categorical_index:
                    raise ExportError(f"StringIndexer input {source!r} is not a categorical field")
                labels = [str(label) for label in labels]
                if NULL_CATEGORY in labels:
                    raise ExportError(f"{source!r} has the reserved value {NULL_CATEGORY!r}")
                vocabularies[source] = labels
                column = g.node(
                    "Gather",
                    [
                        CATEGORICAL_INPUT,
                        g.const("column", np.array([categorical_index[source]], np.int64)),
                    ],
                    f"{source}_raw",
                    axis=1,
                )
                index = g.node(
                    "LabelEncoder",
                    [column],
                    f"{source}_index",
                    domain="ai.onnx.ml",
                    keys_strings=labels,
                    values_int64s=list(range(len(labels))),
                    default_int64=len(labels),
                )
                indexed[target] = (index, len(labels) + 1)
        elif kind == "OneHotEncoderModel":
            keep = stage.getHandleInvalid() == "keep"
            for source, target, size in zip(
                _input_cols(stage), _output_cols(stage), stage.categorySizes
            ):
                if source not in indexed:
                    raise ExportError(f"OneHotEncoder input {source!r} is not an indexed column")
                slots = int(size) + (1 if keep else 0) - (1 if stage.getDropLast() else 0)
                encoded = g.node(
                    "OneHotEncoder",
                    [indexed[source][0]],
                    f"{target}_3d",
                    domain="ai.onnx.ml",
                    cats_int64s=list(range(slots)),
                    zeros=1,
                )
                flat = g.node(
                    "Squeeze", [encoded, g.const("axis", np.array([1], np.int64))], target
                )
                tensors[target] = (g.node("Cast", [flat], f"{target}_f64", to=11), slots)
        elif kind == "VectorAssembler":
            parts = []
            for column in stage.getInputCols():
                if column in tensors:
                    parts.append(tensors[column][0])
                elif column in indexed:  # an index used directly as a number
                    parts.append(g.node("Cast", [indexed[column][0]], f"{column}_f64", to=11))
                elif column in numeric_index:
                    parts.append(numeric_column(column))
                else:
                    raise ExportError(f"VectorAssembler input {column!r} is not a model field")
            features = g.node("Concat", parts, "features", axis=1)
            tensors[stage.getOutputCol()] = (features, -1)
        else:
            raise ExportError(f"{kind}: no faithful ONNX export for this stage")

    classifier = stages[-1]
    features_col = classifier.getFeaturesCol()
    if features_col not in tensors:
        raise ExportError(f"the classifier reads {features_col!r}, which no stage produced")
    probability, family = _classifier(g, classifier, tensors[features_col][0], spark)
    g.nodes.append(
        helper.make_node(
            "Reshape",
            [probability, g.const("flat", np.array([-1], np.int64))],
            [PROBABILITY_OUTPUT],
            name="probability",
        )
    )

    graph = helper.make_graph(
        g.nodes,
        "mlgate",
        [
            helper.make_tensor_value_info(NUMERIC_INPUT, TensorProto.DOUBLE, ["N", len(numeric)]),
            helper.make_tensor_value_info(
                CATEGORICAL_INPUT, TensorProto.STRING, ["N", len(categorical)]
            ),
        ],
        [helper.make_tensor_value_info(PROBABILITY_OUTPUT, TensorProto.DOUBLE, ["N"])],
        initializer=g.initializers,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", ONNX_OPSET),
            helper.make_opsetid("ai.onnx.ml", ML_OPSET),
        ],
        ir_version=IR_VERSION,
        producer_name="mlgate",
    )
    onnx.checker.check_model(proto)
    unused = sorted(set(categorical) - set(vocabularies))
    if unused:
        notes.append(f"categorical fields not used by the model: {unused}")
    spec = ModelSpec(
        numeric=list(numeric),
        categorical=list(categorical),
        vocabularies=vocabularies,
        operating_threshold=float(operating_threshold),
        family=family,
        spark_version=str(spark.version),
        stages=[_stage_kind(s) for s in stages],
        notes=notes,
    )
    helper.set_model_props(proto, {"mlgate.spec": json.dumps(spec.to_dict())})
    return proto, spec


def log_portable_model(
    model, *, numeric: list[str], categorical: list[str], operating_threshold: float, spark
) -> dict:
    """Export the model and log ``onnx/model.onnx`` + ``onnx/spec.json`` to the active run.

    Returns what candidate.json records: the artefact paths, or ``{"error": ...}`` when the
    export failed. A failed export does not stop training: the export_parity gate fails
    with the reason, so the model is never promoted without its portable twin.
    """
    import mlflow

    try:
        proto, spec = export_pipeline(
            model,
            numeric=numeric,
            categorical=categorical,
            operating_threshold=operating_threshold,
            spark=spark,
        )
    except Exception as error:  # any failure is reported by the gate, with this reason
        log.exception("ONNX export failed")
        mlflow.set_tag(TAG_ONNX_EXPORT, "failed")
        return {"error": f"{type(error).__name__}: {error}"}
    with tempfile.TemporaryDirectory(prefix="mlgate-onnx-") as tmp:
        folder = Path(tmp)
        (folder / MODEL_FILE).write_bytes(proto.SerializeToString())
        (folder / SPEC_FILE).write_text(json.dumps(spec.to_dict(), indent=2))
        mlflow.log_artifacts(str(folder), artifact_path=ONNX_ARTIFACT_DIR)
    mlflow.set_tag(TAG_ONNX_EXPORT, f"{ONNX_ARTIFACT_DIR}/{MODEL_FILE}")
    log.info("ONNX twin logged: %s/%s (%s)", ONNX_ARTIFACT_DIR, MODEL_FILE, spec.family)
    return {
        "artifact_path": ONNX_ARTIFACT_DIR,
        "model": f"{ONNX_ARTIFACT_DIR}/{MODEL_FILE}",
        "spec": f"{ONNX_ARTIFACT_DIR}/{SPEC_FILE}",
        "family": spec.family,
    }
