"""Errors that explain (issue 9): other libraries' padding spellings, channels-last inputs,
swapped weights, and objects that np.asarray must not (or cannot) convert. Each row: the
call, the exception type, a regex the message must match."""

import re

import numpy as np
import pytest

import cyconv

X = np.ones((1, 3, 8, 8))
W = np.ones((4, 3, 3, 3))
NHWC = np.ones((2, 224, 224, 3))
PLANE = np.ones((6, 6))
K = np.ones((2, 2))

SAME_HINT = r"'same_upper' at stride 1.*stride > 1"

ERRORS = [
    # padding strings: exact and lower-case; TensorFlow/ONNX spellings explained
    ("conv2d SAME", lambda: cyconv.conv2d(X, W, padding="SAME"), ValueError,
     r"exact, lower-case\); got 'SAME'\. cyconv's 'same' \(= 'same_lower'.*top/left.*TensorFlow.*" + SAME_HINT),
    ("conv2d Same", lambda: cyconv.conv2d(X, W, padding="Same"), ValueError, r"got 'Same'.*" + SAME_HINT),
    ("correlate2d same", lambda: cyconv.correlate2d(PLANE, K, padding="SAME"), ValueError, SAME_HINT),
    ("convolve2d VALID", lambda: cyconv.convolve2d(PLANE, K, padding="VALID"), ValueError,
     r"got 'VALID'\. TensorFlow's 'VALID' \(no padding\) is cyconv's 'valid', or padding=0"),
    ("max_pool2d Valid", lambda: cyconv.max_pool2d(PLANE, 2, padding="Valid"), ValueError, r"cyconv's 'valid'"),
    ("avg_pool2d FULL", lambda: cyconv.avg_pool2d(PLANE, 2, padding="FULL"), ValueError,
     r"got 'FULL'\. Did you mean 'full'\?"),
    ("SAME_UPPER", lambda: cyconv.conv2d(X, W, padding="SAME_UPPER"), ValueError, r"Did you mean 'same_upper'\?"),
    ("conv_transpose2d SAME", lambda: cyconv.conv_transpose2d(X, np.ones((3, 2, 3, 3)), padding="SAME"),
     ValueError, SAME_HINT),
    ("conv2d_backward Same", lambda: cyconv.conv2d_backward(np.ones((1, 4, 8, 8)), X, W, padding="Same"),
     ValueError, SAME_HINT),
    ("shape helper SAME", lambda: cyconv.conv2d_output_shape(X.shape, W.shape, padding="SAME"), ValueError,
     SAME_HINT),
    ("pool shape helper", lambda: cyconv.pool2d_output_shape(X.shape, 2, padding="Same"), ValueError, SAME_HINT),
    ("nn.Conv2d SAME", lambda: cyconv.nn.Conv2d(3, 4, 3, padding="SAME"), ValueError, SAME_HINT),
    ("unknown string", lambda: cyconv.conv2d(X, W, padding="half"), ValueError,
     r"one of 'valid', 'same', 'same_lower', 'same_upper', 'full' \(exact, lower-case\); got 'half'$"),
    # channel mismatches whose numbers fit another layout
    ("NHWC batch", lambda: cyconv.conv2d(NHWC, np.ones((16, 3, 3, 3))), ValueError,
     r"input has 224 channels on axis 1 but 3 on axis 3: is it NHWC \(channels last\)\? pass layout='NHWC'"),
    ("NHWC image", lambda: cyconv.conv2d(NHWC[0], np.ones((16, 3, 3, 3))), ValueError,
     r"224 channels on axis 0 but 3 on axis 2: is it NHWC"),
    ("NHWC depthwise", lambda: cyconv.conv2d(NHWC, np.ones((3, 1, 3, 3)), groups=3), ValueError,
     r"groups=3 must divide the 224 input channels: .*pass layout='NHWC'"),
    ("NHWC backward", lambda: cyconv.conv2d_backward(np.ones((2, 16, 222, 1)), NHWC, np.ones((16, 3, 3, 3))),
     ValueError, r"is it NHWC"),
    ("transposed weight", lambda: cyconv.conv2d(X, np.ones((3, 16, 3, 3))), ValueError,
     r"weight axis 0 has the input's 3 channels.*\(C_out, C_in/groups, kh, kw\).*"
     r"conv_transpose2d weight\? pass weight\.transpose\(1, 0, 2, 3\)"),
    ("TensorFlow HWIO weight", lambda: cyconv.conv2d(X, np.ones((5, 5, 3, 16))), ValueError,
     r"weight axis 2 has the input's 3 channels: is it TensorFlow's \(kh, kw, C_in, C_out\) layout\? "
     r"pass weight\.transpose\(3, 2, 0, 1\)"),
    ("plain mismatch, no hint", lambda: cyconv.conv2d(np.ones((1, 2, 8, 8)), W), ValueError,
     r"input has 2 channels but weight expects C_in/groups \* groups = 3 \* 1 = 3 \(shape \(4, 3, 3, 3\)\)$"),
    # objects that are not arrays
    ("dict", lambda: cyconv.correlate2d({"a": 1}, K), TypeError,
     r"x must be array-like \(a numpy.ndarray, an object with __array__ or the buffer protocol, or nested "
     r"sequences of numbers\); got an object of type dict"),
    ("object()", lambda: cyconv.conv2d(object(), W), TypeError, r"input must be array-like.*type object$"),
    ("None weight", lambda: cyconv.conv2d(X, None), TypeError, r"weight must be array-like.*NoneType"),
    ("object array", lambda: cyconv.correlate2d(np.ones((3, 3), object), K), TypeError,
     r"x must have a real numeric dtype \(bool, integer or floating\), got dtype object"),
]


@pytest.mark.parametrize("call, exc, pattern", [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS])
def test_error_table(call, exc, pattern):
    with pytest.raises(exc) as info:
        call()
    assert re.search(pattern, str(info.value)), str(info.value)


def test_lower_case_strings_still_work():
    for p in ("valid", "same", "same_lower", "same_upper", "full"):
        cyconv.conv2d(X, W, padding=p)
        cyconv.max_pool2d(PLANE, 2, padding=p if p in ("valid", "same", "same_lower", "same_upper") else 0)


def test_buffer_protocol_and_array_interface_are_accepted():
    buf = memoryview(np.arange(9.0).reshape(3, 3).tobytes()).cast("d", (3, 3))
    np.testing.assert_array_equal(cyconv.correlate2d(buf, [[1.0]]), np.arange(9.0).reshape(3, 3))

    class HasArray:
        def __array__(self, dtype=None, copy=None):
            return np.ones((3, 3))

    assert cyconv.correlate2d(HasArray(), K).shape == (2, 2)


FOREIGN = ["conv2d", "correlate2d", "max_pool2d", "conv2d_backward"]


def _call(name, x):
    if name == "conv2d":
        return cyconv.conv2d(x, np.ones((1, 1, 2, 2)))
    if name == "correlate2d":
        return cyconv.correlate2d(x, K)
    if name == "max_pool2d":
        return cyconv.max_pool2d(x, 2)
    return cyconv.conv2d_backward(np.ones((1, 1, 3, 3)), x, np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("name", FOREIGN)
def test_dask_array_is_refused_not_loaded(name):
    da = pytest.importorskip("dask.array")
    loaded = []

    def load(block):
        loaded.append(block.shape)
        return block

    x = da.ones((1, 1, 4, 4), chunks=2).map_blocks(load)
    loaded.clear()  # (map_blocks calls it on tiny blocks to infer the result's metadata)
    with pytest.raises(TypeError, match=r"is a dask array \(dask\.array\.core\.Array\): cyconv would load "
                                        r"all of it into memory\. cyconv\.dask has conv2d.*\.compute\(\)"):
        _call(name, x)
    assert loaded == [], "the dask array was computed"


def test_autograd_box_points_to_the_recipe():
    autograd = pytest.importorskip("autograd")
    import autograd.numpy as anp

    def loss(x):
        return anp.sum(cyconv.correlate2d(x, K))

    with pytest.raises(TypeError, match=r"x is an autograd ArrayBox \(autograd\.grad is tracing this call\).*"
                                        r"defvjp.*'Gradients with HIPS autograd' \(docs/autodiff\.md\)"):
        autograd.grad(loss)(np.ones((3, 3)))


def test_jax_tracer_is_refused_but_a_jax_array_converts():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    with pytest.raises(TypeError, match=r"x is a JAX tracer .*jax\.pure_callback"):
        jax.grad(lambda x: jnp.sum(cyconv.correlate2d(x, K)))(jnp.ones((3, 3)))
    np.testing.assert_array_equal(cyconv.correlate2d(jnp.ones((3, 3)), K), np.full((2, 2), 4.0))


def test_nchw_array_given_as_nhwc_is_named():
    """The shape check sees NCHW order; with layout='NHWC' the hint names the caller's axes."""
    from cyconv._shapes import _check_conv_shapes

    user = (2, 3, 224, 224)  # channels first, passed with layout='NHWC'
    nchw = user[:-3] + (user[-1],) + user[-3:-1]
    with pytest.raises(ValueError, match=r"input has 224 channels on axis 3 \(layout='NHWC'\) but 3 on axis 1: "
                                         r"is it NCHW \(channels first\)\? pass layout='NCHW'"):
        _check_conv_shapes(nchw, (16, 3, 3, 3), 1, "input", "weight", layout="NHWC")


def _has_layout():
    try:
        cyconv.conv2d(np.ones((1, 2, 2, 1)), np.ones((1, 1, 1, 1)), layout="NHWC")
    except TypeError:
        return False
    return True


@pytest.mark.skipif(not _has_layout(), reason="conv2d has no layout= on this branch")
def test_nchw_array_given_as_nhwc_through_conv2d():
    with pytest.raises(ValueError, match=r"is it NCHW \(channels first\)\? pass layout='NCHW'"):
        cyconv.conv2d(np.ones((2, 3, 224, 224)), np.ones((16, 3, 3, 3)), layout="NHWC")
