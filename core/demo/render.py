"""Projection of the 3-D walker into a camera view and rasterisation into part label maps.

A view is the CASIA-B angle between the walking direction and the camera axis (000 = walking
towards the camera, 090 = side view, 180 = walking away). The camera is a mild perspective camera
(12 m away, lens at 0.95 m) that pans/dollies with the walker when the walk would leave the frame.
Body parts are capsules, polygons and ellipses drawn far-to-near with OpenCV (sub-pixel precision,
no anti-aliasing, so every pixel holds exactly one label from ``core.parts``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from core.demo.body import Identity, Motion, SeqJitter, walk
from core.demo.garments import CLOTH, Outfit
from core.parts import ARMS, BAG, COAT, HEAD, LOWER, SHOES, UPPER

H, W = 240, 320
VIEWS = tuple(f"{a:03d}" for a in range(0, 181, 18))
PX_PER_M = 98.0          # image scale at the path centre (1.72 m -> ~170 px)
CAM_D = 12.0
CAM_H = 0.95
CX, CY = W / 2.0, 128.0
MAX_TRAVEL_PX = 170.0    # horizontal travel of the walker across the frame, at most
MAX_TRAVEL_M = 1.6       # travel in depth, at most (frontal views)
SHIFT = 4                # OpenCV fixed-point bits for sub-pixel drawing
ONE = float(1 << SHIFT)


class _Cam:
    """Maps walker-frame points (T, ..., 3) to pixels for one view and one sequence."""

    def __init__(self, view_deg: float, motion: Motion, jitter: SeqJitter):
        th = np.radians(view_deg)
        self.fu, self.fw = np.sin(th), -np.cos(th)     # walking direction in (u right, w away)
        self.lu, self.lw = np.cos(th), np.sin(th)      # walker's left
        self.k = PX_PER_M * jitter.scale
        travel = float(motion.root_x[-1] - motion.root_x[0]) if len(motion.root_x) > 1 else 0.0
        span_u = abs(travel * self.fu) * self.k
        span_w = abs(travel * self.fw)
        c = 1.0
        if span_u > MAX_TRAVEL_PX:
            c = min(c, MAX_TRAVEL_PX / span_u)
        if span_w > MAX_TRAVEL_M:
            c = min(c, MAX_TRAVEL_M / span_w)
        self.root = c * motion.root_x                   # camera-relative travel
        self.u0 = jitter.start_u / self.k
        self.w0 = jitter.start_w
        self.dx = 0.0
        self.dy = 0.0

    def project(self, p: np.ndarray):
        """``p`` (T, ..., 3) -> px, py, depth w, pixels-per-metre (all (T, ...))."""
        extra = (slice(None),) + (None,) * (p.ndim - 2)
        x = p[..., 0] + self.root[extra]
        y, z = p[..., 1], p[..., 2]
        u = x * self.fu + z * self.lu + self.u0
        w = x * self.fw + z * self.lw + self.w0
        s = self.k * CAM_D / (CAM_D + w)
        return CX + s * u + self.dx, CY - s * (y - CAM_H) + self.dy, w, s

    def halfwidth(self, a, b):
        """Projected half-width (metres) of a horizontal ellipse with lateral ``a`` and forward ``b``."""
        return np.sqrt((a * self.lu) ** 2 + (b * self.fu) ** 2)


def _fix(v: np.ndarray) -> np.ndarray:
    return np.rint(v * ONE).astype(np.int32)


class _Item:
    """A group of drawing ops that share one depth per frame."""

    __slots__ = ("depth", "ops")

    def __init__(self, depth: np.ndarray):
        self.depth = depth
        self.ops: list[tuple] = []

    def capsule(self, cam: _Cam, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float, label: int):
        x0, y0, _, s0 = cam.project(p0)
        x1, y1, _, s1 = cam.project(p1)
        ra, rb = r0 * s0, r1 * s1
        dx, dy = x1 - x0, y1 - y0
        n = np.maximum(np.hypot(dx, dy), 1e-6)
        nx, ny = -dy / n, dx / n
        quad = np.stack([np.stack([x0 + nx * ra, y0 + ny * ra], -1), np.stack([x1 + nx * rb, y1 + ny * rb], -1),
                         np.stack([x1 - nx * rb, y1 - ny * rb], -1), np.stack([x0 - nx * ra, y0 - ny * ra], -1)], 1)
        self.ops.append(("capsule", label, _fix(quad), _fix(np.stack([x0, y0], -1)), _fix(ra),
                         _fix(np.stack([x1, y1], -1)), _fix(rb)))

    def poly(self, pts: np.ndarray, label: int):
        """``pts`` (T, N, 2) pixel polygon per frame."""
        self.ops.append(("poly", label, _fix(pts)))

    def hull(self, pts: np.ndarray, label: int):
        self.ops.append(("hull", label, _fix(pts)))

    def ellipse(self, centre: np.ndarray, axes: np.ndarray, label: int):
        self.ops.append(("ellipse", label, _fix(centre), _fix(axes)))

    def draw(self, img: np.ndarray, t: int):
        for op in self.ops:
            kind, label = op[0], op[1]
            if kind == "capsule":
                cv2.fillConvexPoly(img, op[2][t], label, cv2.LINE_8, SHIFT)
                cv2.circle(img, tuple(op[3][t]), int(op[4][t]), label, -1, cv2.LINE_8, SHIFT)
                cv2.circle(img, tuple(op[5][t]), int(op[6][t]), label, -1, cv2.LINE_8, SHIFT)
            elif kind == "poly":
                cv2.fillPoly(img, [op[2][t]], label, cv2.LINE_8, SHIFT)
            elif kind == "hull":
                hull = cv2.convexHull(op[2][t])
                cv2.fillConvexPoly(img, hull, label, cv2.LINE_8, SHIFT)
            else:
                c, a = op[2][t], op[3][t]
                cv2.ellipse(img, (int(c[0]), int(c[1])), (int(a[0]), int(a[1])), 0.0, 0.0, 360.0, label, -1,
                            cv2.LINE_8, SHIFT)


def _levels(cam: _Cam, centres: list[np.ndarray], halves: list[tuple[float, float]]) -> np.ndarray:
    """Outline polygon (T, 2N, 2) through horizontal cross-sections given bottom to top."""
    left, right = [], []
    for c, (a, b) in zip(centres, halves):
        px, py, _, s = cam.project(c)
        hw = cam.halfwidth(a, b) * s
        left.append(np.stack([px - hw, py], -1))
        right.append(np.stack([px + hw, py], -1))
    return np.stack(left + right[::-1], 1)


def _box(centre: np.ndarray, dims: tuple[float, float, float]) -> np.ndarray:
    """Corners (T, 8, 3) of an axis-aligned box in the walker frame."""
    dx, dy, dz = (d / 2 for d in dims)
    offs = np.array([[sx * dx, sy * dy, sz * dz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    return centre[:, None, :] + offs[None]


def _keypoints_3d(ident: Identity, m: Motion) -> np.ndarray:
    J = m.joints
    T = J["head"].shape[0]
    fwd = np.array([np.cos(m.lean * 0.5), 0.0, 0.0])
    up = np.array([0.0, 1.0, 0.0])
    left = np.array([0.0, 0.0, 1.0])
    head = J["head"]
    a, b, h = ident.head_width / 2, ident.head_width * 0.62, ident.head_height
    nose = head + fwd * (0.92 * b) - up * (0.12 * h)
    eye_l = head + fwd * (0.75 * b) + up * (0.04 * h) + left * (0.32 * a)
    eye_r = head + fwd * (0.75 * b) + up * (0.04 * h) - left * (0.32 * a)
    ear_l = head + left * (0.9 * a) - fwd * (0.05 * b)
    ear_r = head - left * (0.9 * a) - fwd * (0.05 * b)
    names = ("shoulder_l", "shoulder_r", "elbow_l", "elbow_r", "wrist_l", "wrist_r", "hip_l", "hip_r",
             "knee_l", "knee_r", "ankle_l", "ankle_r")
    pts = [nose, eye_l, eye_r, ear_l, ear_r] + [J[n] for n in names]
    out = np.stack(pts, 1)
    assert out.shape == (T, 17, 3)
    return out


def render_sequence(ident: Identity, jitter: SeqJitter, outfit: Outfit, view: str | float,
                    frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Render one walking sequence: part label maps (T, H, W) uint8 and COCO-17 keypoints (T, 17, 3)."""
    bag, coat = outfit.bag, outfit.coat
    hold = bag.side if bag is not None and bag.kind == "handbag" else None
    m = walk(ident, jitter, frames, hold_arm=hold)
    J = m.joints
    cam = _Cam(float(view), m, jitter)
    g = ident.girth
    sc = ident.height / 1.72
    T = frames

    # --- keep the whole walk inside the frame: one pan/tilt offset per sequence ---------------
    kp3 = _keypoints_3d(ident, m)
    probe = [kp3, np.stack([J["toe_l"], J["toe_r"], J["heel_l"], J["heel_r"], J["hand_l"], J["hand_r"]], 1),
             (J["head"] + np.array([0.0, ident.head_height / 2, 0.0]))[:, None]]
    xs, ys = [], []
    for p in probe:
        px, py, _, _ = cam.project(p)
        xs.append(px.ravel())
        ys.append(py.ravel())
    xs, ys = np.concatenate(xs), np.concatenate(ys)
    margin_x = 22.0 + (40.0 if bag is not None else 0.0) + (20.0 if coat is not None else 0.0)
    lo, hi = xs.min() - margin_x, xs.max() + margin_x
    if hi - lo < W:
        cam.dx = max(0.0, -lo) - max(0.0, hi - (W - 1))
    else:
        cam.dx = (W - 1) / 2.0 - (lo + hi) / 2.0
    top, bottom = ys.min() - 4.0, ys.max() + 6.0
    if top < 0:
        cam.dy = -top
    elif bottom > H - 1:
        cam.dy = (H - 1) - bottom

    w_of = lambda p: cam.project(p)[2]  # noqa: E731
    loose = coat.loose if coat is not None else 0.0

    # --- body dimensions (metres, half-widths lateral a / forward b) ---------------------------
    hip_a = ident.hip_width / 2 + 0.082 * g * sc
    sh_half = ident.shoulder_width / 2
    crotch = (hip_a * 0.92, 0.085 * g * sc)
    hip = (hip_a, 0.11 * g * sc)
    chest = (sh_half * 0.92 + 0.01, 0.12 * g * sc)
    waist = (0.5 * (hip[0] + chest[0]) * 0.93, 0.105 * g * sc)
    shoulder = (sh_half + 0.03 * g * sc, 0.085 * g * sc)
    neck_top = (sh_half * 0.5, 0.06 * g * sc)
    cloth = lambda ab, extra=0.0, k=1.0: (ab[0] + CLOTH + extra, ab[1] + CLOTH + k * extra)  # noqa: E731

    axis = np.array([np.sin(m.lean), np.cos(m.lean), 0.0])
    pelvis = J["pelvis"]
    lvl = lambda d: pelvis + axis * d  # noqa: E731   point on the trunk axis, d metres above the hips
    tl = ident.torso_length

    thigh_depth = [0.5 * (w_of(J[f"hip_{s}"]) + w_of(J[f"knee_{s}"])) for s in ("l", "r")]
    torso_depth = np.minimum(np.minimum(*thigh_depth), w_of(pelvis)) - 0.005
    items: list[_Item] = []

    # --- torso -------------------------------------------------------------------------------
    torso = _Item(torso_depth)
    if coat is None:
        torso.poly(_levels(cam, [lvl(-0.07 * sc), pelvis, lvl(0.07 * sc)],
                           [cloth(crotch), cloth(hip), cloth(waist)]), LOWER)
        torso.poly(_levels(cam, [lvl(0.02 * sc), lvl(0.35 * tl), lvl(0.72 * tl), lvl(tl - 0.02), lvl(tl + 0.015)],
                           [cloth(hip), cloth(waist), cloth(chest), cloth(shoulder), cloth(neck_top)]), UPPER)
    else:
        torso.poly(_levels(cam, [lvl(-0.07 * sc), pelvis],
                           [cloth(crotch), cloth(hip)]), LOWER)
        torso.poly(_levels(cam, [pelvis, lvl(0.35 * tl), lvl(0.72 * tl), lvl(tl - 0.02), lvl(tl + 0.03)],
                           [cloth(hip, 1.2 * loose, 0.8), cloth(waist, loose, 0.8), cloth(chest, loose, 0.8),
                            cloth(shoulder, 0.7 * loose, 0.6), cloth(neck_top, 0.3 * loose, 0.5)]), COAT)
    items.append(torso)

    if coat is not None:
        # the skirt of the coat, from the hips to the hem, wide enough to enclose the thighs
        f = min(coat.length, 1.0)
        pl = J["hip_l"] + f * (J["knee_l"] - J["hip_l"])
        pr = J["hip_r"] + f * (J["knee_r"] - J["hip_r"])
        hem = pelvis.copy()
        hem[:, 0] = 0.5 * (pl[:, 0] + pr[:, 0])
        hem[:, 1] = pelvis[:, 1] - coat.length * ident.thigh
        spread = np.abs(pl[:, 0] - pr[:, 0]) / 2 + 0.06 * g * sc + loose
        hem_a = hip_a + CLOTH + 1.5 * loose
        hem_b = np.maximum(hip[1] + CLOTH + loose, spread)
        px0, py0, _, s0 = cam.project(pelvis)
        px1, py1, _, s1 = cam.project(hem)
        hw0 = cam.halfwidth(hip_a + CLOTH + 1.2 * loose, hip[1] + CLOTH + loose) * s0
        hw1 = cam.halfwidth(hem_a, hem_b) * s1
        skirt = _Item(torso_depth - 0.004)
        skirt.poly(np.stack([np.stack([px0 - hw0, py0], -1), np.stack([px1 - hw1, py1], -1),
                             np.stack([px1 + hw1, py1], -1), np.stack([px0 + hw0, py0], -1)], 1), COAT)
        items.append(skirt)

    # --- head and neck -----------------------------------------------------------------------
    head = _Item(torso_depth - 0.01)
    head.capsule(cam, J["neck"] - axis * 0.03, J["head"] - axis * (0.3 * ident.head_height),
                 0.05 * g * sc, 0.045 * g * sc, COAT if coat is not None and coat.loose > 0.08 else HEAD)
    hx, hy, _, hs = cam.project(J["head"])
    hax = cam.halfwidth(ident.head_width / 2, ident.head_width * 0.62) * hs
    hay = np.full_like(hax, ident.head_height / 2) * hs
    head.ellipse(np.stack([hx, hy], -1), np.stack([hax, hay], -1), HEAD)
    items.append(head)

    # --- legs --------------------------------------------------------------------------------
    for s in ("l", "r"):
        leg = _Item(0.5 * (w_of(J[f"hip_{s}"]) + w_of(J[f"ankle_{s}"])))
        leg.capsule(cam, J[f"hip_{s}"], J[f"knee_{s}"], 0.084 * g * sc + CLOTH, 0.057 * g * sc + CLOTH, LOWER)
        leg.capsule(cam, J[f"knee_{s}"], J[f"ankle_{s}"], 0.057 * g * sc + CLOTH, 0.040 * g * sc + CLOTH, LOWER)
        if coat is not None:
            f = min(coat.length, 1.0)
            leg.capsule(cam, J[f"hip_{s}"], J[f"hip_{s}"] + f * (J[f"knee_{s}"] - J[f"hip_{s}"]),
                        0.084 * g * sc + CLOTH + 0.6 * loose, 0.065 * g * sc + CLOTH + 0.6 * loose, COAT)
        leg.capsule(cam, J[f"heel_{s}"] + np.array([0.0, 0.03, 0.0]), J[f"toe_{s}"] + np.array([0.0, 0.025, 0.0]),
                    0.042 * sc, 0.03 * sc, SHOES)
        items.append(leg)

    # --- arms --------------------------------------------------------------------------------
    for s in ("l", "r"):
        arm = _Item(0.5 * (w_of(J[f"shoulder_{s}"]) + w_of(J[f"wrist_{s}"])))
        sh, el, wr, hd = J[f"shoulder_{s}"], J[f"elbow_{s}"], J[f"wrist_{s}"], J[f"hand_{s}"]
        r_sh, r_el, r_wr = 0.046 * g * sc + CLOTH, 0.037 * g * sc + CLOTH, 0.028 * g * sc + CLOTH
        if coat is not None:
            e = coat.sleeve
            arm.capsule(cam, sh, el, r_sh + e, r_el + e, COAT)
            arm.capsule(cam, el, wr, r_el + e, r_wr + 0.8 * e, COAT)
        elif outfit.long_sleeves:
            arm.capsule(cam, sh, el, r_sh, r_el, UPPER)
            arm.capsule(cam, el, wr, r_el, r_wr, UPPER)
        else:
            # bare arms get the same outline as sleeves: sleeve length must not show in a silhouette
            arm.capsule(cam, sh, el, r_sh, r_el, ARMS)
            arm.capsule(cam, el, wr, r_el, r_wr, ARMS)
            # The short sleeve is a pixel thinner than the arm so rasterisation rounding at its
            # caps can never poke outside the arm's outline.
            px = 0.012 * sc
            arm.capsule(cam, sh, sh + 0.5 * (el - sh), r_sh - px, 0.5 * (r_sh + r_el) - px, UPPER)
        arm.capsule(cam, wr, hd, 0.026 * sc, 0.034 * sc, ARMS)
        items.append(arm)

    # --- bags --------------------------------------------------------------------------------
    if bag is not None:
        side = 1.0 if bag.side == "l" else -1.0
        z = bag.size
        if bag.kind == "shoulder":
            swing = 0.035 * np.sin(2 * np.pi * m.phase_l + 0.8)
            centre = pelvis + np.stack([swing - 0.10 * z, np.full(T, -0.06 * sc),
                                        np.full(T, side * (hip[0] + 0.065 * z))], -1)
            dims = (0.34 * z, 0.27 * z, 0.10 * z)
            it = _Item(w_of(centre))
            it.hull(np.stack(cam.project(_box(centre, dims))[:2], -1), BAG)
            items.append(it)
            strap = _Item(torso_depth - 0.002)
            top = centre + np.array([0.0, dims[1] / 2, 0.0])
            strap.capsule(cam, J[f"shoulder_{'r' if side > 0 else 'l'}"] + np.array([0.0, 0.01, 0.0]), top,
                          0.012, 0.012, BAG)
            items.append(strap)
        elif bag.kind == "backpack":
            dims = (0.17 * z, 0.42 * z, 0.32 * z)
            back = chest[1] + CLOTH + dims[0] / 2 + 0.005
            centre = lvl(0.6 * tl) + np.array([-back * np.cos(m.lean), back * np.sin(m.lean), 0.0])
            it = _Item(w_of(centre))
            it.hull(np.stack(cam.project(_box(centre, dims))[:2], -1), BAG)
            items.append(it)
        else:  # handbag, held in one hand
            hd = J[f"hand_{bag.side}"]
            dims = (0.32 * z, 0.25 * z, 0.11 * z)
            centre = hd + np.array([0.0, -0.05 - dims[1] / 2, side * 0.02])
            it = _Item(np.minimum(w_of(centre), w_of(hd)) - 0.003)
            it.hull(np.stack(cam.project(_box(centre, dims))[:2], -1), BAG)
            it.capsule(cam, hd, centre + np.array([0.0, dims[1] / 2, 0.0]), 0.012, 0.012, BAG)
            items.append(it)

    # --- rasterise far to near ---------------------------------------------------------------
    parts = np.zeros((T, H, W), np.uint8)
    depths = np.stack([it.depth for it in items], 1)      # (T, n)
    order = np.argsort(-depths, axis=1, kind="stable")
    lead = min(jitter.empty_lead, max(T - 1, 0))
    for t in range(lead, T):
        img = parts[t]
        for i in order[t]:
            items[i].draw(img, t)

    # --- keypoints ---------------------------------------------------------------------------
    kx, ky, _, _ = cam.project(kp3)
    inside = (kx >= 0) & (kx <= W - 1) & (ky >= 0) & (ky <= H - 1)
    conf = inside.astype(np.float32)
    conf[:lead] = 0.0
    kps = np.stack([kx, ky, conf], -1).astype(np.float32)
    return parts, kps


# ------------------------------------------------------------------------------------------------
# RGB rendering
# ------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _background(seed: int, h: int, w: int) -> np.ndarray:
    """A static room: textured wall with a gradient, a floor with tiles and a skirting board."""
    r = np.random.default_rng(seed & 0xFFFFFFFF)
    horizon = int(h * r.uniform(0.55, 0.66))
    wall = np.array(r.uniform(120, 215, 3))
    floor = np.array(r.uniform(70, 150, 3))
    img = np.zeros((h, w, 3), np.float32)
    ys = np.arange(h, dtype=np.float32)[:, None, None]
    img[:horizon] = wall * (0.82 + 0.18 * ys[:horizon] / max(horizon, 1))
    img[horizon:] = floor * (0.78 + 0.30 * (ys[horizon:] - horizon) / max(h - horizon, 1))
    # low-frequency blotches + fine grain
    low = cv2.resize(r.normal(0, 1, (6, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(r.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 0.8)
    img += (9.0 * low + 5.0 * grain)[..., None]
    # floor tiles in perspective, a skirting board and a few wall panels
    vx = w * r.uniform(0.3, 0.7)
    tile = floor * 0.8
    for k in range(-12, 13):
        x_bottom = vx + k * w / 6.0
        cv2.line(img, (int(vx + (x_bottom - vx) * 0.25), horizon), (int(x_bottom), h), tile.tolist(), 1, cv2.LINE_AA)
    y = float(horizon)
    step = 4.0
    while y < h:
        cv2.line(img, (0, int(y)), (w, int(y)), tile.tolist(), 1, cv2.LINE_AA)
        y += step
        step *= 1.45
    cv2.rectangle(img, (0, horizon - 6), (w, horizon), (wall * 0.6).tolist(), -1)
    for x in np.linspace(0, w, int(r.integers(3, 6)) + 1)[1:-1]:
        cv2.line(img, (int(x), 0), (int(x), horizon - 6), (wall * 0.86).tolist(), 2, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=16)
def _noise_tile(seed: int, h: int, w: int) -> np.ndarray:
    r = np.random.default_rng((seed * 7919 + 17) & 0xFFFFFFFF)
    return r.integers(-4, 5, (h + 32, w + 32, 3)).astype(np.int16)


@functools.lru_cache(maxsize=4)
def _light(h: int, w: int) -> np.ndarray:
    ys = np.linspace(1.12, 0.86, h, dtype=np.float32)[:, None]
    xs = np.linspace(0.97, 1.03, w, dtype=np.float32)[None, :]
    return ys * xs


def render_rgb(parts: np.ndarray, palette: np.ndarray, frame_index: int, seed: int) -> np.ndarray:
    """One RGB frame (H, W, 3 uint8) from a part label map: coloured parts with soft edge shading,
    light from above, a contact shadow, over a static background and mild per-frame sensor noise."""
    h, w = parts.shape
    bg = _background(int(seed), h, w)
    mask = parts > 0
    out = bg.copy()
    if mask.any():
        rows = np.flatnonzero(mask.any(1))
        y1 = int(rows[-1])
        cols = np.flatnonzero(mask[max(0, y1 - 12): y1 + 1].any(0))
        if cols.size:
            cx, half = int((cols[0] + cols[-1]) // 2), int((cols[-1] - cols[0]) // 2) + 10
            y0 = max(0, y1 - 8)
            roi = out[y0: min(h, y1 + 9), max(0, cx - half): min(w, cx + half + 1)]
            sh = np.zeros(roi.shape[:2], np.uint8)
            cv2.ellipse(sh, (cx - max(0, cx - half), y1 - y0), (half, 6), 0, 0, 360, 1, -1)
            roi[sh > 0] = (roi[sh > 0] * 0.7).astype(np.uint8)
        edge = cv2.blur(mask.view(np.uint8) * np.uint8(255), (9, 9)).astype(np.float32)
        shade = (0.62 + (0.38 / 255.0) * edge) * _light(h, w)
        col = palette[parts].astype(np.float32)
        fg = np.clip(col * shade[..., None] + 6.0, 0, 255).astype(np.uint8)
        np.copyto(out, fg, where=mask[..., None])
    tile = _noise_tile(int(seed), h, w)
    oy, ox = (frame_index * 7) % 32, (frame_index * 13 + 5) % 32
    noisy = out.astype(np.int16) + tile[oy: oy + h, ox: ox + w]
    return np.clip(noisy, 0, 255).astype(np.uint8)
