import numpy as np
from scipy import ndimage

from pyrocomp.mrf.layout import to_grid


def weight_clusters(mask, min_rows=3, min_cols=3):
    """
    The clusters of surviving weights on a layer's support grid
    (:mod:`pyrocomp.mrf.layout`): connected components (4-neighbourhood) of the kept weights
    whose bounding box spans at least ``min_rows`` × ``min_cols`` — the blocks paper 001 §V-B
    stores as a whole (location and size) instead of weight by weight.

    :param torch.Tensor mask: boolean keep-mask of the weight's shape.
    :returns: ``[(rows, cols, kept)]`` per cluster: bounding-box size and number of kept weights.
    """
    grid = to_grid(mask.detach().bool()).cpu().numpy()
    labels, count = ndimage.label(grid)
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    clusters = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        rows, cols = box[0].stop - box[0].start, box[1].stop - box[1].start
        if rows >= min_rows and cols >= min_cols:
            clusters.append((int(rows), int(cols), int(sizes[index])))
    return clusters
