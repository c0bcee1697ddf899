"""Random padding arguments and PyTorch's equivalent padding, for the tests that compare
cyconv with PyTorch on random configurations (test_random_torch, test_fuzz_torch)."""

import torch.nn.functional as F

TORCH_MODE = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def padding_arg(rng, k, d, strings=True):
    """A random padding argument and its ((top, bottom), (left, right)) meaning under SPEC:
    an int, a pair, explicit pairs and (``strings``) 'same', 'same_upper', 'valid', 'full'."""
    forms = ["int", "pair", "explicit", "same", "same_upper", "valid", "full"] if strings \
        else ["int", "pair", "explicit"]
    form = forms[int(rng.integers(len(forms)))]
    totals = [dd * (kk - 1) for kk, dd in zip(k, d)]
    if form == "int":
        p = int(rng.integers(0, 4))
        return p, ((p, p), (p, p))
    if form == "pair":
        p = (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
        return p, ((p[0], p[0]), (p[1], p[1]))
    if form == "explicit":
        p = tuple((int(rng.integers(0, 5)), int(rng.integers(0, 5))) for _ in range(2))
        return p, p
    if form == "same":
        return "same", tuple((tt - tt // 2, tt // 2) for tt in totals)
    if form == "same_upper":
        return "same_upper", tuple((tt // 2, tt - tt // 2) for tt in totals)
    if form == "full":
        return "full", tuple((tt, tt) for tt in totals)
    return "valid", ((0, 0), (0, 0))


def torch_pad(x, pads, mode):
    """``x`` (a tensor) padded by ((top, bottom), (left, right)) in cyconv's ``mode``."""
    (pt, pb), (pl, pr) = pads
    if not any((pt, pb, pl, pr)):
        return x
    return F.pad(x, (pl, pr, pt, pb), mode="constant" if mode == "zeros" else TORCH_MODE[mode])
