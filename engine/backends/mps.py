"""torch.backends.mps: Apple's GPU, which this PyTorch is not built for."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
