"""vgan_lib: VideoGAN ("Generating Videos with Scene Dynamics", Vondrick et al., 2016) in PyTorch."""

__version__ = "0.1.0"
