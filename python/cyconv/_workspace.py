"""The bound on the convolution engine's per-thread panels.

The engine (cyconv._engine) never builds a patch matrix for a whole image: each
thread packs cache-sized panels of patches as it goes, so a call's extra memory is its
output, a packed copy of the weights and these panels -- independent of the batch.
The limit caps the panels of all threads together; the engine shrinks them to honour
it, but never below one micro-panel per thread (a few KiB), so any limit (0, 1, 128,
...) works, never fails and never changes a result (the panels' width is not part of
any sum's order). The limit is process-wide.
"""

from ._shapes import _int

_DEFAULT = 64 << 20  # 64 MiB
_limit = _DEFAULT


def get_workspace_limit():
    """The bytes of packed panels one convolution call may use (see the module docstring).

    Returns
    -------
    int
        The limit in bytes (default 64 MiB).

    See Also
    --------
    set_workspace_limit : Change it.

    Examples
    --------
    >>> import cyconv
    >>> cyconv.get_workspace_limit()
    67108864
    """
    return _limit


def set_workspace_limit(nbytes):
    """Bound the convolution engine's per-thread panels to ``nbytes`` bytes in all.

    Smaller limits trade speed for memory; no limit fails, and results do not depend
    on it. Below one micro-panel per thread the engine uses one micro-panel.

    Parameters
    ----------
    nbytes : int
        The limit in bytes, >= 0, or None for the default of 64 MiB.

    Returns
    -------
    int
        The previous limit, so that it can be restored.

    Raises
    ------
    TypeError
        If ``nbytes`` is not an integer.
    ValueError
        If ``nbytes`` is negative.

    See Also
    --------
    get_workspace_limit : The limit in force.

    Examples
    --------
    >>> import cyconv
    >>> old = cyconv.set_workspace_limit(1 << 20)
    >>> cyconv.get_workspace_limit()
    1048576
    >>> _ = cyconv.set_workspace_limit(old)
    """
    global _limit
    if nbytes is None:
        value = _DEFAULT
    else:
        value = _int(nbytes, "nbytes")
        if value < 0:
            raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    old, _limit = _limit, value
    return old
