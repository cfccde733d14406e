"""torch.nn's functional part, which is what code of autograd exercises reaches for (`F.relu`,
`F.cross_entropy`); no modules or parameters."""

from engine.nn import functional

__all__ = ["functional"]
