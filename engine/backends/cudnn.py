"""torch.backends.cudnn: NVIDIA's library, absent; its flags are kept, as PyTorch keeps them."""

enabled = True
deterministic = False
benchmark = False


def is_available() -> bool:
    return False
