"""Several fits of one model side by side: their draws as ArviZ chains, and which units every fit prunes."""
import numpy as np

from pyrocomp.pruning import kept_units
from pyrocomp.util import require

#: groups whose variables run along ``chain``: stacked fit after fit
CHAIN_GROUPS = ("posterior", "log_likelihood", "posterior_predictive", "sample_stats")


def stack_fits(idatas):
    """
    Stack the ``InferenceData`` of several fits (:func:`to_inference_data`, same model and draw count; different
    seeds, say) as chains of one, so that ``az.rhat`` and ``az.ess`` say which quantities the fits agree on.
    ``constant_data`` gains a ``fit`` dimension; ``observed_data`` and ``attrs`` are the first fit's.

    :rtype: arviz.InferenceData
    :raises ValueError: fewer than two fits, or fits with different draws or variables.
    """
    az = require("arviz", "diagnostics")
    import xarray

    idatas = list(idatas)
    if len(idatas) < 2:
        raise ValueError(f"Expected at least two fits to stack but got {len(idatas)}")
    first = idatas[0]
    for i, other in enumerate(idatas[1:], 1):
        if set(other.posterior.data_vars) != set(first.posterior.data_vars) or \
                other.posterior.sizes["draw"] != first.posterior.sizes["draw"]:
            raise ValueError(f"Fit {i} has other posterior variables or draws than fit 0; expected the same model "
                             "and num_samples")
    groups = {}
    for group in CHAIN_GROUPS:
        if all(group in idata.groups() for idata in idatas):
            parts = [idata[group] for idata in idatas]
            stacked = xarray.concat(parts, dim="chain")
            groups[group] = stacked.assign_coords(chain=np.arange(stacked.sizes["chain"]))
    if "constant_data" in first.groups():
        groups["constant_data"] = xarray.concat([idata.constant_data for idata in idatas], dim="fit")
    if "observed_data" in first.groups():
        groups["observed_data"] = first.observed_data
    out = az.InferenceData(**groups)
    out.attrs.update(first.attrs)
    return out


def pruning_stability(masks):
    """
    Which units every fit prunes, which only some, which none: a unit is pruned when no kept weight reads it (input
    units) or when none of its weights is kept (output units).

    :param masks: one ``{layer path: bool mask}`` per fit (:attr:`Compression.masks
        <pyrocomp.pruning.Compression>`).
    :returns: one row per layer and side (``in``, ``out``): units, and the units pruned by ``all``, ``some`` and
        ``none`` of the fits (``some_units`` lists the disputed ones).
    """
    masks = list(masks)
    if len(masks) < 2:
        raise ValueError(f"Expected the masks of at least two fits but got {len(masks)}")
    rows = []
    for path in masks[0]:
        for side in ("in", "out"):
            count = np.stack([~kept_units(fit[path], side).cpu().numpy() for fit in masks]).sum(0)
            rows.append({"layer": path, "side": side, "units": int(count.size), "all": int((count == len(masks)).sum()),
                         "some": int(((count > 0) & (count < len(masks))).sum()), "none": int((count == 0).sum()),
                         "some_units": np.flatnonzero((count > 0) & (count < len(masks))).tolist()})
    return rows
