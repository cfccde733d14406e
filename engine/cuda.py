"""torch.cuda as a PyTorch built without CUDA has it: no GPU (engine.devices)."""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """Nothing to seed: PyTorch ignores it silently where CUDA is not available."""


def manual_seed_all(seed: int) -> None:
    """As manual_seed."""
