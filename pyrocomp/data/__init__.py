from .datasets import DATASETS, DataError, DataSplit, hold_out, load_dataset, register_dataset

__all__ = ["DATASETS", "DataError", "DataSplit", "hold_out", "load_dataset", "register_dataset"]
