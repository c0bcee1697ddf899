"""The bound on the scratch memory of the GEMM convolutions.

The GEMM paths gather patches (im2col) into a workspace of at most this many bytes,
blocking over images and, when one image does not fit, over output rows. A
convolution whose single output row would not fit uses the direct kernel instead
(whose scratch is a few input rows). In the rare geometry where neither fits (huge
strides over huge padding) the call raises MemoryError before allocating anything, so
the bound holds. The limit is process-wide.
"""

from ._shapes import _int

_DEFAULT = 64 << 20  # 64 MiB
_limit = _DEFAULT


def get_workspace_limit():
    """The most scratch memory, in bytes, one convolution call may allocate.

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
    """Bound the scratch memory of the convolutions to ``nbytes`` bytes.

    Smaller limits trade speed for memory; results do not depend on the limit.

    Parameters
    ----------
    nbytes : int
        The limit in bytes, >= 0 (0 forces the workspace-free direct kernels),
        or None for the default of 64 MiB.

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
