"""torch.backends as a PyTorch built for the CPU alone has them: no MPS and no cuDNN, and the
flags that seeding boilerplate sets (cudnn.deterministic, cudnn.benchmark), which change nothing
here."""

from engine.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
