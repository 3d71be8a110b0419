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


def metric_requests(
    entry: ImageEntry, benchmark: bool, *, compute_pi: bool, input_view: str, busy: Collection[str] = ()
) -> list[MetricRequest]:
    """The scores ``entry`` still needs in this mode, newest output first and the input last.

    ``busy``: ``"<metric id>/<metric key>"`` of scores already being computed. Each source is asked only for the
    metrics it has what they compare with: the ground truth in benchmark mode, an fp32 twin for an output.
    """
    if entry.input_for(benchmark) is None:
        return []
    shown = [m for m in panel_metrics() if compute_pi or m.key != OPTIONAL_METRIC]
    scores = entry.metrics[benchmark]
    reference = entry.inputs.reference.rgb if benchmark else None

    def want(source: str, has: Collection[str | None]) -> tuple[str, ...]:
        have = scores.get(source, {})
        return tuple(m.key for m in shown
                     if m.reference in has and m.key not in have and f"{source}/{m.key}" not in busy)

    requests: list[MetricRequest] = []
    for out in reversed(entry.outputs_for(benchmark)):
        twin = entry.outputs.get(out.key.at(FLOAT_PRECISION))
        fp32 = twin.picture.rgb if twin is not None and twin is not out else None
        has = (None, *((registry.HR,) if benchmark else ()), *((registry.FP32,) if fp32 is not None else ()))
        source = output_id(out.key)
        if keys := want(source, has):
            requests.append(MetricRequest(source, out.picture.rgb, fp32=fp32, reference=reference, want=keys,
                                          known=dict(scores.get(source, {})), label=out.label,
                                          scale=out.info.scale))
    source = metric_id(INPUT, input_view)
    if keys := want(source, (None, registry.HR) if benchmark else (None,)):
        requests.append(MetricRequest(source, entry.input_for(benchmark).rgb, reference=reference, want=keys,
                                      known=dict(scores.get(source, {})), label="the input", enlarge=input_view))
    if benchmark and (keys := want(REFERENCE, (None,))):
        requests.append(MetricRequest(REFERENCE, reference, want=keys, known=dict(scores.get(REFERENCE, {})),
                                      label="the original"))
    return requests
