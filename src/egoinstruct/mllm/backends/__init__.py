"""Model backends behind one interface (see :mod:`.base`); chosen per model by name."""

from egoinstruct.mllm.backends.base import (
    Backend,
    BackendRequestError,
    ModelRequest,
    ModelResponse,
    Part,
    Sampling,
    TransientBackendError,
    backend_class,
    backend_names,
    create_backend,
    register,
)

__all__ = [
    "Backend",
    "BackendRequestError",
    "ModelRequest",
    "ModelResponse",
    "Part",
    "Sampling",
    "TransientBackendError",
    "backend_class",
    "backend_names",
    "create_backend",
    "register",
]
