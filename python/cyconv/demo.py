"""The chapter, run end to end: ``python -m cyconv demo``.

1. The forward examples of notes 6.2-6.5 with the numbers the notes show.
2. "Learning a kernel" (6.2.4): a 1x2 convolution learns the edge detector [[1, -1]].
3. A LeNet-style CNN trained on scikit-learn's bundled 8x8 digits (nothing is
   downloaded), with a model summary, per-epoch loss and held-out test accuracy.
4. A small ResNet-style network (batch norm, residual additions, global average
   pooling) trained on the same digits with Adam.
5. Figures (PNG) of the edge detection, the learned kernels and the training curves.

scikit-learn, tqdm and matplotlib are needed only here (``pip install "cyconv[demo]"``);
they are imported when the demo runs, never by ``import cyconv``.
"""

import os
import sys
import time

import numpy as np

from . import d2l, nn

__all__ = ["run", "MissingDependency"]

INSTALL_HINT = 'pip install "cyconv[demo]"'

# Training set-up of part 3: over seeds 0-11 the test accuracy was 98.0-99.6 %
# (mean 98.7 %), in a few seconds of training.
EPOCHS = 12
FAST_EPOCHS = 3
BATCH_SIZE = 32
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
FAST_TRAIN, FAST_TEST = 256, 128

# Part 4, the small ResNet: Adam with cosine decay; over seeds 0-11 the test accuracy was
# 98.2-99.8 % (mean 99.1 %), in a few seconds of training.
RESNET_EPOCHS = 8
FAST_RESNET_EPOCHS = 2
RESNET_LR = 1e-2
RESNET_WEIGHT_DECAY = 1e-4
RESNET_WIDTH = 16


class MissingDependency(ImportError):
    """An optional package the demo needs is not installed."""


def _require(figures):
    """Import the demo's optional dependencies, or say how to install them."""
    missing = []
    modules = {}
    needed = [("sklearn.datasets", "scikit-learn"), ("tqdm", "tqdm")]
    if figures:
        needed.append(("matplotlib", "matplotlib"))
    for module, package in needed:
        try:
            modules[package] = __import__(module, fromlist=["_"])
        except ImportError:
            missing.append(package)
    if missing:
        raise MissingDependency(
            f"the cyconv demo needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed; install the demo extras with:  {INSTALL_HINT}"
            + ("  (or pass --no-figures to skip matplotlib)" if "matplotlib" in missing else "")
        )
    return modules


def _section(title, file):
    print(f"\n=== {title} ===", file=file)


def _show(label, value, file):
    text = np.array2string(np.asarray(value), separator=" ")
    if "\n" in text:
        print(f"{label}:\n{text}", file=file)
    else:
        print(f"{label}: {text}", file=file)


# --------------------------------------------------------------------------- part 1


def edge_image():
    """The notes' 6x8 image: ones with a black band in columns 2..5, and ``K = [[1, -1]]``."""
    X = np.ones((6, 8), np.float32)
    X[:, 2:6] = 0
    K = np.array([[1.0, -1.0]], np.float32)
    return X, K


def chapter_examples(file=sys.stdout, rng=None):
    """Print the forward examples of notes 6.2-6.5; return the results by name."""
    rng = np.random.default_rng(0) if rng is None else rng
    r = {}
    _section("6.2.1 cross-correlation: corr2d(X, K)", file)
    X = np.arange(9, dtype=np.float32).reshape(3, 3)
    K = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    r["corr2d"] = d2l.corr2d(X, K)
    _show("corr2d(X, K)", r["corr2d"], file)

    _section("6.2.3 edge detection with K = [[1, -1]]", file)
    X, K = edge_image()
    _show("X", X, file)
    r["edges"] = d2l.corr2d(X, K)
    _show("Y = corr2d(X, K)", r["edges"], file)
    r["edges_T"] = d2l.corr2d(X.T, K)
    _show("corr2d(X.T, K)  (the kernel sees only vertical edges)", r["edges_T"], file)

    _section("6.3 padding and stride (8x8 input, comp_conv2d)", file)
    X = rng.random((8, 8)).astype(np.float32)
    r["shapes"] = {}
    for text, kwargs in [
        ("kernel_size=3, padding=1", dict(kernel_size=3, padding=1)),
        ("kernel_size=(5, 3), padding=(2, 1)", dict(kernel_size=(5, 3), padding=(2, 1))),
        ("kernel_size=3, padding=1, stride=2", dict(kernel_size=3, padding=1, stride=2)),
        ("kernel_size=(3, 5), padding=(0, 1), stride=(3, 4)", dict(kernel_size=(3, 5), padding=(0, 1), stride=(3, 4))),
    ]:
        k = kwargs.pop("kernel_size")
        shape = d2l.comp_conv2d(nn.Conv2d(1, 1, k, rng=rng, **kwargs), X).shape
        r["shapes"][text] = shape
        print(f"Conv2d(1, 1, {text}) -> {shape}", file=file)

    _section("6.4 multiple input and output channels", file)
    X = np.stack([np.arange(9.0), np.arange(1.0, 10.0)]).reshape(2, 3, 3).astype(np.float32)
    K = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]], np.float32)
    r["multi_in"] = d2l.corr2d_multi_in(X, K)
    _show("corr2d_multi_in(X, K)", r["multi_in"], file)
    K3 = np.stack((K, K + 1, K + 2), 0)
    r["K3_shape"] = K3.shape
    print(f"K = stack((K, K + 1, K + 2)); K.shape = {K3.shape}", file=file)
    r["multi_in_out"] = d2l.corr2d_multi_in_out(X, K3)
    _show("corr2d_multi_in_out(X, K)", r["multi_in_out"], file)
    X = rng.normal(0, 1, (3, 3, 3))
    K = rng.normal(0, 1, (2, 3, 1, 1))
    Y1 = d2l.corr2d_multi_in_out_1x1(X, K)
    Y2 = d2l.corr2d_multi_in_out(X, K)
    r["1x1_max_diff"] = float(np.abs(Y1 - Y2).max())
    print(f"1x1 convolution == matrix product: max |difference| = {r['1x1_max_diff']:.1e}", file=file)

    _section("6.5 pooling", file)
    X = np.arange(9, dtype=np.float32).reshape(3, 3)
    r["pool_max"] = d2l.pool2d(X, (2, 2))
    _show("pool2d(X, (2, 2))", r["pool_max"], file)
    r["pool_avg"] = d2l.pool2d(X, (2, 2), "avg")
    _show("pool2d(X, (2, 2), 'avg')", r["pool_avg"], file)
    X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    _show("X", X, file)
    r["maxpool3"] = nn.MaxPool2d(3)(X)
    _show("MaxPool2d(3)(X)", r["maxpool3"], file)
    r["maxpool3_p1_s2"] = nn.MaxPool2d(3, padding=1, stride=2)(X)
    _show("MaxPool2d(3, padding=1, stride=2)(X)", r["maxpool3_p1_s2"], file)
    r["maxpool23"] = nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))(X)
    _show("MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))(X)", r["maxpool23"], file)
    X = np.concatenate((X, X + 1), 1)
    r["maxpool_2ch"] = nn.MaxPool2d(3, padding=1, stride=2)(X)
    _show("X = cat((X, X + 1), 1); MaxPool2d(3, padding=1, stride=2)(X)", r["maxpool_2ch"], file)
    return r


# --------------------------------------------------------------------------- part 2


def learn_edge_kernel(seed=0, epochs=10, lr=3e-2, file=sys.stdout):
    """Notes 6.2.4: learn ``[[1, -1]]`` from the edge image with a 1x2 convolution.

    Squared error summed over the output, plain gradient descent; prints the loss
    every 2 epochs (the notes' ``con2vd``/``printf`` typos fixed). Returns
    ``(kernel of shape (1, 2), losses per epoch)``.
    """
    _section("6.2.4 learning a kernel", file)
    X, K = edge_image()
    Y = d2l.corr2d(X, K)
    conv2d = nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False, rng=np.random.default_rng(seed))
    X = X.reshape(1, 1, 6, 8)
    Y = Y.reshape(1, 1, 6, 7)
    losses = []
    for i in range(epochs):
        Y_hat = conv2d(X)
        loss, grad = nn.mse_loss(Y_hat, Y, reduction="sum")
        conv2d.zero_grad()
        conv2d.backward(grad, input_grad=False)
        conv2d.weight.data[:] -= lr * conv2d.weight.grad
        losses.append(loss)
        if (i + 1) % 2 == 0:
            print(f"epoch {i + 1}, loss {loss:.3f}", file=file)
    kernel = conv2d.weight.data.reshape(1, 2).copy()
    _show("learned kernel", kernel, file)
    return kernel, losses


# --------------------------------------------------------------------------- part 3


def lenet(rng):
    """conv -> ReLU -> max-pool, twice, then two linear layers, for 1x8x8 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 2 * 2, 128, rng=rng), nn.ReLU(),
        nn.Linear(128, 10, rng=rng),
    )


def load_digits_split(seed, fast):
    """scikit-learn's 8x8 digits as float32 ``(N, 1, 8, 8)``; a stratified 75/25 split.

    Pixels (0..16) are standardised with the training set's mean and standard deviation.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, np.newaxis]
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y)
    mean, std = X_train.mean(), X_train.std()
    X_train = (X_train - mean) / std
    X_test = (X_test - mean) / std
    if fast:
        X_train, y_train = X_train[:FAST_TRAIN], y_train[:FAST_TRAIN]
        X_test, y_test = X_test[:FAST_TEST], y_test[:FAST_TEST]
    return X_train, X_test, y_train, y_test


def _predict(model, X, batch=512):
    """Class predictions in evaluation mode (running batch-norm statistics, nothing cached)."""
    model.eval()
    try:
        return np.concatenate([model(X[i:i + batch]).argmax(axis=1) for i in range(0, len(X), batch)])
    finally:
        model.train()


def _progress(total, desc):
    """A tqdm bar on stderr, or a silent one when stderr is not a terminal (no '\\r' in logs)."""
    from tqdm import tqdm

    quiet = not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, leave=False, ascii=True,
                disable=quiet)


def _fit(model, opt, base_lr, data, epochs, rng, desc, file):
    """Mini-batch training with cosine learning-rate decay; returns (history, seconds)."""
    X_train, y_train = data
    n = len(X_train)
    n_batches = -(-n // BATCH_SIZE)
    history = {"loss": [], "train_accuracy": []}
    start = time.perf_counter()
    with _progress(epochs * n_batches, desc) as bar:
        for epoch in range(epochs):
            # Cosine learning-rate decay: large steps first, fine ones at the end.
            opt.lr = base_lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
            order = rng.permutation(n)
            total, correct = 0.0, 0
            for b in range(n_batches):
                idx = order[b * BATCH_SIZE:(b + 1) * BATCH_SIZE]
                logits = model(X_train[idx])
                loss, grad = nn.cross_entropy(logits, y_train[idx])
                opt.zero_grad()
                model.backward(grad, input_grad=False)
                opt.step()
                total += loss * len(idx)
                correct += int((logits.argmax(axis=1) == y_train[idx]).sum())
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}", refresh=False)
            history["loss"].append(total / n)
            history["train_accuracy"].append(correct / n)
            bar.write(f"epoch {epoch + 1:{len(str(epochs))}d}/{epochs}: loss {total / n:.4f}, "
                      f"train accuracy {correct / n:.2%}", file=file)
    return history, time.perf_counter() - start


def _evaluate(model, X_test, y_test, seconds, file):
    pred = _predict(model, X_test)
    accuracy = float((pred == y_test).mean())
    print(f"test accuracy: {accuracy:.2%} ({int((pred == y_test).sum())}/{len(y_test)} held-out images), "
          f"trained in {seconds:.1f} s", file=file)
    return accuracy


def train_digits(seed=0, epochs=EPOCHS, fast=False, file=sys.stdout):
    """Train :func:`lenet` on the digits with SGD; print the summary, losses and test accuracy."""
    _section("LeNet-style CNN on scikit-learn's 8x8 digits", file)
    X_train, X_test, y_train, y_test = load_digits_split(seed, fast)
    print(f"{len(X_train)} training and {len(X_test)} test images of shape {X_train.shape[1:]}", file=file)
    rng = np.random.default_rng(seed)
    model = lenet(rng)
    print(model.summary((BATCH_SIZE,) + X_train.shape[1:]), file=file)
    opt = nn.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    history, seconds = _fit(model, opt, LR, (X_train, y_train), epochs, rng, "LeNet", file)
    accuracy = _evaluate(model, X_test, y_test, seconds, file)
    return model, history, accuracy, seconds


# --------------------------------------------------------------------------- part 4


def _basic_block(c_in, c_out, stride, rng):
    """ResNet's basic block: two 3x3 conv + batch norm, a 1x1 projection where the shape changes."""
    body = nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, rng=rng), nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(c_out),
    )
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False, rng=rng),
                                 nn.BatchNorm2d(c_out))
    return nn.Residual(body, shortcut)


def resnet(rng, width=RESNET_WIDTH):
    """A small ResNet for 1x8x8 inputs: stem, two residual blocks (8x8, then 4x4), global average pooling."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1, bias=False, rng=rng), nn.BatchNorm2d(width), nn.ReLU(),
        _basic_block(width, width, 1, rng), nn.ReLU(),
        _basic_block(width, 2 * width, 2, rng), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(2 * width, 10, rng=rng),
    )


def train_resnet(seed=0, epochs=RESNET_EPOCHS, fast=False, file=sys.stdout):
    """Train :func:`resnet` on the digits with Adam; print the summary, losses and test accuracy."""
    _section("small ResNet (batch norm, residual blocks, global average pooling) with Adam", file)
    X_train, X_test, y_train, y_test = load_digits_split(seed, fast)
    rng = np.random.default_rng(seed + 1000)
    model = resnet(rng)
    print(model.summary((BATCH_SIZE,) + X_train.shape[1:]), file=file)
    opt = nn.Adam(model.parameters(), lr=RESNET_LR, weight_decay=RESNET_WEIGHT_DECAY)
    history, seconds = _fit(model, opt, RESNET_LR, (X_train, y_train), epochs, rng, "ResNet", file)
    accuracy = _evaluate(model, X_test, y_test, seconds, file)
    return model, history, accuracy, seconds


# --------------------------------------------------------------------------- part 5


def _figure(ncols, width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _image(ax, data, title, cmap="gray", symmetric=False):
    data = np.asarray(data)
    kwargs = {}
    if symmetric:
        m = float(np.abs(data).max()) or 1.0
        kwargs = dict(vmin=-m, vmax=m)
    im = ax.imshow(data, cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def save_figures(out, edge_kernel, edge_losses, model, history, accuracy, resnet_result=None):
    """Write the demo's PNG figures into ``out``; return their paths.

    ``resnet_result``, a ``(history, accuracy)`` pair, adds the ResNet's curves to the
    training-curve figure.
    """
    os.makedirs(out, exist_ok=True)
    paths = []
    X, K = edge_image()

    fig, axes = _figure(3, 9, 2.8)
    _image(axes[0], X, "input X (6x8)")
    im = _image(axes[1], d2l.corr2d(X, K), "corr2d(X, [[1, -1]])", cmap="coolwarm", symmetric=True)
    fig.colorbar(im, ax=axes[1], shrink=0.8)
    _image(axes[2], d2l.corr2d(X.T, K), "corr2d(X.T, [[1, -1]])", cmap="coolwarm", symmetric=True)
    fig.suptitle("6.2.3 edge detection")
    paths.append(os.path.join(out, "edge_detection.png"))
    fig.savefig(paths[-1], dpi=110)

    first = model.layers[0].weight.data[:, 0]
    cols = 8
    rows = -(-len(first) // cols)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(cols * 1.1, rows * 1.1 + 1.6), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, rows])
    ax = top.subplots()
    k0, k1 = (float(v) for v in edge_kernel.ravel())
    _image(ax, edge_kernel, f"6.2.4 learned edge kernel [[{k0:.3f}, {k1:.3f}]]",
           cmap="coolwarm", symmetric=True)
    grid = bottom.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(grid.ravel()):
        if i < len(first):
            _image(ax, first[i], f"{i}", cmap="coolwarm", symmetric=True)
        else:
            ax.axis("off")
    bottom.suptitle("first-layer 3x3 kernels of the digits CNN", fontsize=10)
    paths.append(os.path.join(out, "learned_kernels.png"))
    fig.savefig(paths[-1], dpi=110)

    fig, axes = _figure(2, 9, 3.2)
    curves = [("LeNet, SGD", history, accuracy, "C0")]
    if resnet_result is not None:
        curves.append(("ResNet, Adam", resnet_result[0], resnet_result[1], "C2"))
    for label, hist, acc, colour in curves:
        epochs = np.arange(1, len(hist["loss"]) + 1)
        axes[0].plot(epochs, hist["loss"], "o-", color=colour, label=label)
        axes[1].plot(epochs, hist["train_accuracy"], "o-", color=colour, label=f"{label}: training")
        axes[1].axhline(acc, color=colour, linestyle="--", label=f"{label}: test {acc:.2%}")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("cross-entropy")
    axes[0].set_yscale("log")
    axes[0].set_title("digits: training loss")
    axes[0].legend(loc="upper right")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("accuracy")
    axes[1].legend(loc="lower right", fontsize=8)
    axes[1].set_title("accuracy")
    paths.append(os.path.join(out, "training_curve.png"))
    fig.savefig(paths[-1], dpi=110)

    fig, axes = _figure(1, 4, 3)
    axes[0].plot(np.arange(1, len(edge_losses) + 1), edge_losses, "o-")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("summed squared error")
    axes[0].set_title("6.2.4 learning [[1, -1]]")
    paths.append(os.path.join(out, "edge_kernel_loss.png"))
    fig.savefig(paths[-1], dpi=110)
    return paths


# --------------------------------------------------------------------------- driver


def run(out="cyconv-demo", epochs=None, seed=0, figures=True, fast=False, file=None, resnet_epochs=None):
    """Run the whole demo; return its numbers.

    Parameters
    ----------
    out : str or path
        Directory for the PNG figures (created if needed).
    epochs : int, optional
        Training epochs of the digits CNN (default 12, or 3 with ``fast``).
    resnet_epochs : int, optional
        Training epochs of the small ResNet (default 8, or 2 with ``fast``).
    seed : int
        Seeds every random choice: the same seed gives the same numbers.
    figures : bool
        Write the figures (needs matplotlib).
    fast : bool
        A quick run for tests: a small subset of the digits, 3 epochs by default.
    file : file-like, optional
        Where the text goes (default ``sys.stdout``).

    Returns
    -------
    dict
        ``examples`` (part 1 results), ``edge_kernel``, ``edge_losses``,
        ``history`` (per-epoch ``loss`` and ``train_accuracy``), ``test_accuracy``,
        ``train_seconds``, ``resnet`` (a dict of its ``history``, ``test_accuracy`` and
        ``train_seconds``), ``seconds`` (total) and ``figures`` (paths written).

    Raises
    ------
    MissingDependency
        If scikit-learn or tqdm (or matplotlib with ``figures``) is not installed.
    """
    file = sys.stdout if file is None else file
    _require(figures)
    if epochs is None:
        epochs = FAST_EPOCHS if fast else EPOCHS
    epochs = int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if resnet_epochs is None:
        resnet_epochs = FAST_RESNET_EPOCHS if fast else RESNET_EPOCHS
    resnet_epochs = int(resnet_epochs)
    if resnet_epochs < 1:
        raise ValueError(f"resnet_epochs must be >= 1, got {resnet_epochs}")
    if figures:
        os.makedirs(out, exist_ok=True)  # fail now, not after the training
    start = time.perf_counter()
    print(f"cyconv demo (seed {seed}{', fast mode' if fast else ''})", file=file)
    # Default threads: the engine gives a call a second thread only for >= 16 M
    # multiply-adds, and the pools only for >= 2**21 elements, so these small batches
    # run on the calling thread without pool wake-ups (benchmarks/training_threads.py).
    examples = chapter_examples(file=file, rng=np.random.default_rng(seed))
    edge_kernel, edge_losses = learn_edge_kernel(seed=seed, file=file)
    model, history, accuracy, train_seconds = train_digits(
        seed=seed, epochs=epochs, fast=fast, file=file)
    _, resnet_history, resnet_accuracy, resnet_seconds = train_resnet(
        seed=seed, epochs=resnet_epochs, fast=fast, file=file)
    resnet_result = dict(history=resnet_history, test_accuracy=resnet_accuracy, train_seconds=resnet_seconds)
    paths = []
    if figures:
        paths = save_figures(out, edge_kernel, edge_losses, model, history, accuracy,
                             (resnet_history, resnet_accuracy))
        _section("figures", file)
        for p in paths:
            print(p, file=file)
    seconds = time.perf_counter() - start
    print(f"\ndone in {seconds:.1f} s", file=file)
    return dict(examples=examples, edge_kernel=edge_kernel, edge_losses=edge_losses, history=history,
                test_accuracy=accuracy, train_seconds=train_seconds, resnet=resnet_result, seconds=seconds,
                figures=paths)
