from .datasets import DATASETS, DataError, DataSplit, load_dataset, register_dataset

__all__ = ["DATASETS", "DataError", "DataSplit", "load_dataset", "register_dataset"]
