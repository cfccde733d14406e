"""torch.cuda as a PyTorch built without CUDA has it: no GPU (engine.devices)."""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0
