"""What the window computes next, decided without Qt.

Which images an Upscale click queues, which scores each source of an image still needs (and for which metrics
of the engine's registry), and which two sources the comparison shows after an upscale. The window
(app/window/) carries these decisions out with its job runners; tests call them on a plain :class:`Session`.
"""

from __future__ import annotations

from collections.abc import Collection

from app.session import (
    FLOAT_PRECISION,
    INPUT,
    REFERENCE,
    ImageEntry,
    Output,
    ResultKey,
    Session,
    metric_id,
    output_id,
)
from app.tasks import MetricRequest
from engine.metrics import registry

# Settings > General can turn it off: it needs the Ma model, and takes seconds per image.
OPTIONAL_METRIC = "pi"
# How the panel orders the registry's metrics: no-reference scores first, fidelity to fp32 last.
_PANEL_ORDER = (None, registry.HR, registry.FP32)


def panel_metrics() -> list[registry.Metric]:
    """Every metric the comparison shows a row for, in the panel's order."""
    return sorted(registry.all_metrics(), key=lambda m: _PANEL_ORDER.index(m.reference))


def upscale_todo(session: Session, key: ResultKey, queued: Collection[int]) -> list[ImageEntry]:
    """The images an upscale at ``key`` still has to run on: no such output yet, not queued, and readable."""
    return [e for e in session if key not in e.outputs and e.id not in queued and not e.input_error]


def sides_after_upscale(entry: ImageEntry, key: ResultKey) -> tuple[str, str]:
    """The comparison after an output at ``key`` arrives: it on side B, against its fp32 twin when there is one
    (the quantization's effect), else against the input (the upscale's effect)."""
    fp32 = key.at(FLOAT_PRECISION)
    a = output_id(fp32) if key != fp32 and fp32 in entry.outputs else INPUT
    return a, output_id(key)


# Why a source of the comparison gets no value for a metric (the panel words each one).
OFF, NEEDS_BENCHMARK, IS_REFERENCE, ONLY_OUTPUTS, IS_FP32, NEEDS_FP32 = (
    "off", "needs-benchmark", "is-reference", "only-outputs", "is-fp32", "needs-fp32")


def skipped(metric: registry.Metric, entry: ImageEntry, benchmark: bool, source: str, out: Output | None, *,
            compute_pi: bool) -> str | None:
    """Why ``source`` (``out`` when it is an output) is not scored with ``metric``, or None when it is: the ground
    truth exists in benchmark mode only (and is not scored against itself), fidelity to fp32 only for an output
    whose fp32 twin exists."""
    if metric.key == OPTIONAL_METRIC and not compute_pi:
        return OFF
    if metric.reference == registry.HR:
        if not benchmark:
            return NEEDS_BENCHMARK
        if source == REFERENCE:
            return IS_REFERENCE
    if metric.reference == registry.FP32:
        if out is None:
            return ONLY_OUTPUTS
        if out.key.precision == FLOAT_PRECISION:
            return IS_FP32
        if out.key.at(FLOAT_PRECISION) not in entry.outputs:
            return NEEDS_FP32
    return None


def metric_requests(
    entry: ImageEntry, benchmark: bool, *, compute_pi: bool, input_view: str, busy: Collection[str] = ()
) -> list[MetricRequest]:
    """The scores ``entry`` still needs in this mode (see :func:`skipped`), newest output first and the input last.

    ``busy``: ``"<metric id>/<metric key>"`` of scores already being computed.
    """
    if entry.input_for(benchmark) is None:
        return []
    scores = entry.metrics[benchmark]
    reference = entry.inputs.reference.rgb if benchmark else None

    def want(source: str, scores_as: str, out: Output | None = None) -> tuple[str, ...]:
        have = scores.get(scores_as, {})
        return tuple(m.key for m in panel_metrics()
                     if skipped(m, entry, benchmark, source, out, compute_pi=compute_pi) is None
                     and m.key not in have and f"{scores_as}/{m.key}" not in busy)

    requests: list[MetricRequest] = []
    for out in reversed(entry.outputs_for(benchmark)):
        source = output_id(out.key)
        if keys := want(source, source, out):
            twin = entry.outputs.get(out.key.at(FLOAT_PRECISION))
            requests.append(MetricRequest(source, out.picture.rgb, fp32=twin.picture.rgb if twin and twin is not out else None,
                                          reference=reference, want=keys, known=dict(scores.get(source, {})),
                                          label=out.label, scale=out.info.scale))
    scores_as = metric_id(INPUT, input_view)
    if keys := want(INPUT, scores_as):
        requests.append(MetricRequest(scores_as, entry.input_for(benchmark).rgb, reference=reference, want=keys,
                                      known=dict(scores.get(scores_as, {})), label="the input", enlarge=input_view))
    if benchmark and (keys := want(REFERENCE, REFERENCE)):
        requests.append(MetricRequest(REFERENCE, reference, want=keys, known=dict(scores.get(REFERENCE, {})),
                                      label="the original"))
    return requests
