from .zoo import MODELS, build_model, register_model

__all__ = ["MODELS", "build_model", "register_model"]
