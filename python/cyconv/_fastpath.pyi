# Stub for the compiled check of the common convolution call (cyconv._fastpath).
# Internal API: see the docstring in src/_fastpath.pyx.
_Geom = tuple[int, int, int, int, int, int, int, int, int, int]

def fast_geometry(x: object, weight: object, stride: object, padding: object,
                  dilation: object, groups: object) -> _Geom | None: ...
