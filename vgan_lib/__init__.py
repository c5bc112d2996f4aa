"""vgan_lib: VideoGAN ("Generating Videos with Scene Dynamics", Vondrick et al., 2016) in PyTorch.

    G, D = vgan_lib.load_pretrained("small-synthetic")   # the model shipped with the kit

``import vgan_lib`` stays light: torch is imported only when something needs it."""

__version__ = "0.1.0"

__all__ = ["__version__", "load_pretrained"]


def __getattr__(name):
    # PEP 562: load the shipped-model helpers (and torch) on first use only
    if name == "load_pretrained":
        from .pretrained import load_pretrained
        return load_pretrained
    raise AttributeError(f"module 'vgan_lib' has no attribute {name!r}")
