"""Procedural, class-dependent images for the synthetic datasets.

Every ImageNet class gets a *shape* (a lobed blob: radius, number and depth of
lobes, aspect) and a *look* (two colours, an oriented grating of its own
frequency, and a context colour for the background). An image draws the class
shape, filled with the class grating, on a background of the context colour
varied by a smooth random field; position, scale, rotation, grating phase,
colours, background and pixel noise vary per instance. Shape and look
can be recombined, which gives cue-conflict (shape of one class, texture of
another) and stylized images (class shape, random texture), and drawn in other
domains (sketch, rendition, adversarial clutter).

Geometry lives in coordinates normalised by the short image side, centred on the
image, so Resize(256) + CenterCrop(224) keeps the object (|u|, |v| < 0.4375).
Everything is a function of (seed, stream, label, instance): no global state.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

# Independent random streams, so that e.g. a class's shape does not change when
# its look does.
_SHAPE, _LOOK, _INSTANCE, _STYLE = range(1, 5)
# Instance streams: the same (label, instance) gives different images in each.
VAL, TRAIN, V2, SKETCH, RENDITION, ADVERSARIAL = range(6)


def rng(*keys: int) -> np.random.Generator:
    """A generator determined by non-negative integer keys (platform-independent)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in keys]))


@dataclass(frozen=True)
class Shape:
    radius: float  # mean radius (share of the short side)
    lobes: int
    depth: float  # relative lobe amplitude
    phase: float
    aspect: float  # vertical squash


@dataclass(frozen=True)
class Look:
    c1: tuple[float, float, float]
    c2: tuple[float, float, float]
    theta: float  # grating orientation (radians)
    freq: float  # grating cycles per short side
    context: tuple[float, float, float]  # the usual background colour (water, grass, sky ...)


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


@lru_cache(maxsize=4096)
def class_shape(label: int, seed: int = 0) -> Shape:
    r = rng(seed, _SHAPE, label)
    return Shape(radius=float(r.uniform(0.18, 0.24)), lobes=int(r.integers(3, 10)),
                 depth=float(r.uniform(0.12, 0.4)), phase=float(r.uniform(0, 2 * np.pi)),
                 aspect=float(r.uniform(0.75, 1.0)))


def _random_look(r: np.random.Generator) -> Look:
    hue = r.uniform()
    return Look(c1=_hsv(hue, r.uniform(0.55, 1.0), r.uniform(0.75, 0.95)),
                c2=_hsv(hue + r.uniform(0.15, 0.5), r.uniform(0.5, 1.0), r.uniform(0.15, 0.45)),
                theta=float(r.uniform(0, np.pi)), freq=float(r.uniform(4.0, 16.0)),
                context=_hsv(r.uniform(), r.uniform(0.2, 0.7), r.uniform(0.35, 0.85)))


@lru_cache(maxsize=4096)
def class_look(label: int, seed: int = 0) -> Look:
    return _random_look(rng(seed, _LOOK, label))


@dataclass(frozen=True)
class _Pose:
    cu: float
    cv: float
    scale: float
    rot: float


def _pose(r: np.random.Generator, spread: float = 0.03, scale: float = 1.0) -> _Pose:
    cu, cv = np.clip(r.normal(0, spread, 2), -2 * spread, 2 * spread)
    return _Pose(float(cu), float(cv), float(scale * r.uniform(0.9, 1.1)), float(r.uniform(-0.25, 0.25)))


def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    w, h = size
    s = min(w, h)
    u = (np.arange(w, dtype=np.float32) + 0.5 - w / 2) / s
    v = (np.arange(h, dtype=np.float32) + 0.5 - h / 2) / s
    return np.meshgrid(u, v)


def _geometry(shape: Shape, pose: _Pose, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (share of the short side) inside the object boundary: > 0 inside."""
    du, dv = u - np.float32(pose.cu), v - np.float32(pose.cv)
    c, s = np.float32(math.cos(-pose.rot)), np.float32(math.sin(-pose.rot))
    x, y = c * du - s * dv, (s * du + c * dv) * np.float32(1 / shape.aspect)
    r = np.hypot(x, y)
    lobes = np.cos(np.float32(shape.lobes) * np.arctan2(y, x) + np.float32(shape.phase))
    return np.float32(pose.scale * shape.radius) * (1 + np.float32(shape.depth) * lobes) - r


def _mask(d: np.ndarray) -> np.ndarray:
    """Soft object mask (about 2 px of edge at 224), HxWx1."""
    return np.clip(d * 100 + 0.5, 0, 1)[..., None]


def _outline(d: np.ndarray) -> np.ndarray:
    """A thin band around the boundary, HxWx1 in [0, 1]."""
    return np.exp(-np.square(d * 125))[..., None]


def _textured(look: Look, r: np.random.Generator, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The look's grating in its colours, with instance jitter of angle, frequency, phase, colour."""
    theta = look.theta + r.normal(0, 0.06)
    freq = look.freq * r.uniform(0.92, 1.08)
    phase = r.uniform(0, 2 * np.pi)
    tint = r.normal(0, 0.03, (2, 3))
    t = np.sin(np.float32(2 * np.pi * freq * np.cos(theta)) * u + np.float32(2 * np.pi * freq * np.sin(theta)) * v
               + np.float32(phase))[..., None]
    c1, c2 = (np.asarray(look.c1) + tint[0]).astype(np.float32), (np.asarray(look.c2) + tint[1]).astype(np.float32)
    return (c1 + c2) / 2 + t * ((c1 - c2) / 2)


def smooth_field(r: np.random.Generator, size: tuple[int, int], cells: int = 4, channels: int = 1) -> np.ndarray:
    """Smooth random field in [0, 1] (a few random values per side, bicubically upsampled)."""
    w, h = size
    small = (r.random((cells, cells, channels)) * 255).astype(np.uint8)
    img = Image.fromarray(small[..., 0] if channels == 1 else small)
    out = np.asarray(img.resize((w, h), Image.BICUBIC), dtype=np.float32) / 255
    return out if channels > 1 else out[..., None]


def _background(r: np.random.Generator, size: tuple[int, int], context: tuple[float, float, float]) -> np.ndarray:
    """The class context colour, varied per instance by a smooth random field."""
    base = (0.6 * np.asarray(context) + 0.4 * (r.uniform(0.35, 0.75) + r.normal(0, 0.06, 3)) - 0.12).astype(np.float32)
    return base + np.float32(0.24) * smooth_field(r, size, cells=4, channels=3)


def _finish(x: np.ndarray, r: np.random.Generator, noise: float = 0.015) -> Image.Image:
    # uniform noise of standard deviation ``noise`` (cheaper to draw than Gaussian)
    x = x + (r.random(x.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(noise * 12 ** 0.5)
    return Image.fromarray((np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")


def _check(label: int, size: tuple[int, int]) -> None:
    if not 0 <= int(label) < 1000:
        raise ValueError(f"label {label} is not an ImageNet-1k class index (0..999)")
    if len(size) != 2 or min(size) < 8:
        raise ValueError(f"size {size} must be (width, height) with both at least 8 pixels")


def class_image(label: int, instance: int, size: tuple[int, int], seed: int = 0, *,
                stream: int = VAL) -> Image.Image:
    """RGB image of class ``label`` (``size`` = (width, height), PIL order).

    The class fixes shape, colours and grating; ``instance`` (and ``stream``, which
    separates datasets: train, val, v2 ...) varies pose, phase, background and noise.
    """
    _check(label, size)
    r = rng(seed, _INSTANCE, stream, label, instance)
    u, v = _grid(size)
    m = _mask(_geometry(class_shape(label, seed), _pose(r), u, v))
    look = class_look(label, seed)
    obj = _textured(look, r, u, v)
    bg = _background(r, size, look.context)
    return _finish(bg + m * (obj - bg), r)


def silhouette(label: int, instance: int, size: tuple[int, int], seed: int = 0, *, stream: int = VAL) -> np.ndarray:
    """The object mask (HxW in [0, 1]) of ``class_image(label, instance, size, seed, stream=stream)``."""
    _check(label, size)
    r = rng(seed, _INSTANCE, stream, label, instance)
    u, v = _grid(size)
    return _mask(_geometry(class_shape(label, seed), _pose(r), u, v))[..., 0]


def texture_on_shape(shape_label: int, shape_instance: int, look: Look, texture_key: tuple[int, ...],
                     seed: int = 0, size: tuple[int, int] = (224, 224)) -> Image.Image:
    """The shape (pose included) of val instance ``shape_instance`` of ``shape_label``, painted
    entirely in ``look``; ``texture_key`` identifies the texture image (its phase and tint).

    Like a style-transfer output: the texture (with its context colour) covers the whole
    image; the object stays visible through a full-contrast interior and a dark outline.
    """
    _check(shape_label, size)
    rs = rng(seed, _INSTANCE, VAL, shape_label, shape_instance)
    u, v = _grid(size)
    d = _geometry(class_shape(shape_label, seed), _pose(rs), u, v)
    rt = rng(seed, _STYLE, *texture_key)
    tex = _textured(look, rt, u, v)
    around = 0.75 * _background(rt, size, look.context) + 0.25 * tex
    x = (around + _mask(d) * (tex - around)) * (1 - 0.6 * _outline(d))
    return _finish(x, rs)


def cue_conflict_image(shape_label: int, shape_instance: int, texture_label: int, texture_instance: int,
                       seed: int = 0) -> Image.Image:
    """224x224: the shape of one class carrying the texture and colours of another."""
    return texture_on_shape(shape_label, shape_instance, class_look(texture_label, seed),
                            (1, texture_label, texture_instance), seed)


def stylized_image(label: int, instance: int, seed: int = 0) -> Image.Image:
    """224x224: the class shape in a random, class-free style (texture and colours)."""
    key = (2, label, instance)
    return texture_on_shape(label, instance, _random_look(rng(seed, _LOOK, *key)), key, seed)


def sketch_image(label: int, instance: int, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Greyscale drawing: dark outline of the class shape, sparse hatching in the class orientation."""
    _check(label, size)
    r = rng(seed, _INSTANCE, SKETCH, label, instance)
    u, v = _grid(size)
    d = _geometry(class_shape(label, seed), _pose(r, spread=0.05), u, v)
    look = class_look(label, seed)
    theta = look.theta + r.normal(0, 0.1)
    k = 2 * math.pi * 0.6 * look.freq
    hatch = np.sin(np.float32(k * math.cos(theta)) * u + np.float32(k * math.sin(theta)) * v)[..., None] > 0.85
    grey = 0.95 - 0.8 * np.maximum(_outline(d), 0.35 * hatch * _mask(d))
    grey = grey + 0.03 * (smooth_field(r, size) - 0.5)
    return _finish(np.repeat(grey, 3, axis=2), r, noise=0.01)


RENDITIONS = ("cartoon", "graphic", "painting")


def rendition_image(label: int, instance: int, size: tuple[int, int], seed: int = 0) -> tuple[Image.Image, str]:
    """A rendition of the class (cartoon: flat fill; graphic: posterised texture; painting:
    blurred colours) with a thick outline on a plain background; returns (image, style)."""
    _check(label, size)
    r = rng(seed, _INSTANCE, RENDITION, label, instance)
    style = RENDITIONS[instance % len(RENDITIONS)]
    u, v = _grid(size)
    d = _geometry(class_shape(label, seed), _pose(r, spread=0.05), u, v)
    look = class_look(label, seed)
    tex = _textured(look, r, u, v)
    if style == "cartoon":
        obj = np.broadcast_to(np.asarray(look.c1, dtype=np.float32), tex.shape)
    elif style == "graphic":
        obj = np.round(tex * 2) / 2
    else:
        obj = 0.5 * tex + 0.5 * tex.mean(axis=(0, 1))
    bg = np.asarray(_hsv(r.uniform(), r.uniform(0.1, 0.4), r.uniform(0.8, 1.0)), dtype=np.float32)
    m = _mask(d)
    x = (m * obj + (1 - m) * bg) * (1 - 0.9 * np.clip(_outline(d) * 1.6, 0, 1))
    return _finish(x, r, noise=0.01), style


def adversarial_image(label: int, instance: int, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A hard natural image: the class object smaller and off-centre, half-hidden behind an
    object of another class, on a busier background."""
    _check(label, size)
    r = rng(seed, _INSTANCE, ADVERSARIAL, label, instance)
    other = int((label + r.integers(1, 1000)) % 1000)
    u, v = _grid(size)
    side = r.choice([-1.0, 1.0])
    pose = _pose(r, spread=0.02, scale=0.75)
    pose = _Pose(pose.cu + side * 0.12, pose.cv, pose.scale, pose.rot)
    m = _mask(_geometry(class_shape(label, seed), pose, u, v))
    opose = _pose(r, spread=0.02, scale=0.8)
    opose = _Pose(opose.cu - side * 0.16, opose.cv + 0.05, opose.scale, opose.rot)
    om = _mask(_geometry(class_shape(other, seed), opose, u, v))
    clutter = smooth_field(r, size, cells=12, channels=3) - 0.5
    x = _background(r, size, class_look(other, seed).context) + 0.25 * clutter
    x = m * _textured(class_look(label, seed), r, u, v) + (1 - m) * x
    x = om * _textured(class_look(other, seed), r, u, v) + (1 - om) * x
    return _finish(x, r, noise=0.03)
