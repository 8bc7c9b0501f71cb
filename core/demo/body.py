"""Identities (body proportions + gait) and a 3-D articulated walking model.

Coordinates of the body model are metres in a walker-centred frame: ``x`` forward (the walking
direction), ``y`` up, ``z`` to the walker's left. The model is purely kinematic: joint angles are
smooth periodic functions of the gait phase and the pelvis height is chosen every frame so that the
lowest point of the feet touches the ground, which produces a natural pelvis bob.

Identity is carried only by proportions and motion; nothing here depends on clothes.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

FPS = 25.0


def rng_for(*parts: Any) -> np.random.Generator:
    """A generator seeded from any tuple of ints/strings, stable across runs and processes."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=16).digest()
    return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32).astype(np.uint64))


def seed_for(*parts: Any) -> int:
    """A stable non-negative 31-bit integer seed from any tuple of ints/strings."""
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class Identity:
    """Body proportions (metres) and gait of one synthetic person."""

    sid: str
    height: float            # standing height, sole to top of head
    head_height: float       # chin to crown
    head_width: float        # ear to ear
    neck: float
    torso_length: float      # hip joints to shoulder joints
    shoulder_width: float    # between shoulder joints
    hip_width: float         # between hip joints
    girth: float             # body depth / limb thickness factor (1.0 = average)
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    ankle_height: float
    foot_length: float
    stride_length: float     # metres per gait cycle (two steps)
    cadence: float           # frames per gait cycle at 25 fps
    arm_swing: float         # degrees, amplitude of shoulder flexion
    elbow_flex: float        # degrees, resting elbow flexion
    knee_flex: float         # degrees, peak knee flexion in swing
    lean: float              # degrees, forward trunk lean
    sway: float              # metres, lateral pelvis sway amplitude
    arm_abduction: float     # degrees, arms held away from the body

    @property
    def leg_length(self) -> float:
        return self.thigh + self.shin

    @property
    def speed(self) -> float:
        """Walking speed in metres per second."""
        return self.stride_length / (self.cadence / FPS)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def make_identity(seed: int, sid: str | int) -> Identity:
    """Draw one identity deterministically from ``(seed, sid)``.

    Proportions vary by roughly +-12 % around an average adult, gait parameters over wide ranges,
    so that identities stay distinguishable from silhouettes alone.
    """
    sid = f"{int(sid):03d}" if not isinstance(sid, str) else sid
    r = rng_for("identity", int(seed), sid)
    u = lambda lo, hi: float(r.uniform(lo, hi))  # noqa: E731
    scale = u(0.90, 1.10)                     # overall size
    head_h = 0.235 * u(0.86, 1.14) * scale
    head_w = head_h * u(0.68, 0.82)
    neck = 0.075 * u(0.8, 1.2) * scale
    torso = 0.50 * u(0.88, 1.12) * scale
    thigh = 0.43 * u(0.88, 1.12) * scale
    shin = 0.42 * u(0.90, 1.10) * scale
    ankle_h = 0.07 * scale
    height = ankle_h + shin + thigh + torso + neck + head_h
    leg = thigh + shin
    return Identity(
        sid=sid, height=height, head_height=head_h, head_width=head_w, neck=neck, torso_length=torso,
        shoulder_width=0.37 * u(0.85, 1.15) * scale, hip_width=0.19 * u(0.85, 1.15) * scale,
        girth=u(0.80, 1.22), upper_arm=0.30 * u(0.88, 1.12) * scale, forearm=0.26 * u(0.88, 1.12) * scale,
        thigh=thigh, shin=shin, ankle_height=ankle_h, foot_length=0.25 * u(0.92, 1.08) * scale,
        # Cues a coat leaves visible (cadence, arm swing, lean) vary less between people than the
        # ones it hides (girth, hip width, knee flexion), as in real gait data.
        stride_length=leg * u(1.35, 1.65), cadence=u(25.0, 31.0), arm_swing=u(14.0, 28.0),
        elbow_flex=u(8.0, 22.0), knee_flex=u(40.0, 72.0), lean=u(1.0, 7.0), sway=u(0.008, 0.04),
        arm_abduction=u(5.0, 10.0),
    )


@dataclass(frozen=True)
class SeqJitter:
    """Small per-sequence variation: never large enough to blur identities."""

    speed: float        # multiplies walking speed (cadence shorter, same stride)
    phase: float        # gait phase at frame 0, in cycles
    scale: float        # image scale factor
    start_u: float      # horizontal offset of the path centre, pixels
    start_w: float      # depth offset, metres
    empty_lead: int     # frames before the person appears (0, 1 or 2), like real CASIA-B captures


def make_jitter(seed: int, sid: str, seq_type: str, view: str) -> SeqJitter:
    r = rng_for("jitter", int(seed), sid, seq_type, view)
    lead = int(r.choice([0, 1, 2], p=[0.84, 0.10, 0.06]))
    return SeqJitter(speed=float(r.uniform(0.97, 1.03)), phase=float(r.uniform(0, 1)),
                     scale=float(r.uniform(0.98, 1.02)), start_u=float(r.uniform(-10, 10)),
                     start_w=float(r.uniform(-0.3, 0.3)), empty_lead=lead)


JOINTS = (
    "pelvis", "hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r", "heel_l", "heel_r", "toe_l", "toe_r",
    "waist", "chest", "neck", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r", "wrist_l", "wrist_r",
    "hand_l", "hand_r", "head",
)


@dataclass
class Motion:
    """Joint positions over time, walker frame relative to the root (root at x=0 on the ground)."""

    joints: dict[str, np.ndarray]   # name -> (T, 3)
    root_x: np.ndarray              # (T,) forward travel of the root in metres, centred on the sequence middle
    lean: float                     # radians
    phase_l: np.ndarray             # (T,) gait phase of the left leg in [0, 1)


def _bump(p: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = (p - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def _leg(ident: Identity, p: np.ndarray, hip_amp: float) -> tuple[np.ndarray, ...]:
    """Sagittal-plane leg: returns knee, ankle, heel, toe positions relative to the hip joint (x, y)."""
    two_pi = 2 * np.pi
    hip = hip_amp * np.cos(two_pi * p) + np.radians(2.0)
    knee = (np.radians(14.0) * _bump(p, 0.13, 0.07) + np.radians(ident.knee_flex) * _bump(p, 0.72, 0.11)
            + np.radians(4.0))
    shank = hip - knee
    knee_xy = ident.thigh * np.stack([np.sin(hip), -np.cos(hip)], -1)
    ankle_xy = knee_xy + ident.shin * np.stack([np.sin(shank), -np.cos(shank)], -1)
    pitch = np.radians(22.0) * _bump(p, 0.60, 0.06) - np.radians(12.0) * _bump(p, 0.98, 0.05)
    c, s = np.cos(pitch), np.sin(pitch)
    heel_local = np.array([-0.055, -ident.ankle_height])
    toe_local = np.array([ident.foot_length - 0.055, -ident.ankle_height + 0.015])

    def rot(v):  # positive pitch turns the toes down
        return np.stack([c * v[0] + s * v[1], -s * v[0] + c * v[1]], -1)

    heel = ankle_xy + rot(heel_local)
    toe = ankle_xy + rot(toe_local)
    return knee_xy, ankle_xy, heel, toe


def walk(ident: Identity, jitter: SeqJitter, frames: int, *, hold_arm: str | None = None) -> Motion:
    """Joint trajectories for ``frames`` frames of steady walking.

    ``hold_arm`` ('l' or 'r') makes that arm carry something: little swing, elbow slightly bent.
    """
    t = np.arange(frames, dtype=np.float64)
    cadence = ident.cadence / jitter.speed
    p_l = (t / cadence + jitter.phase) % 1.0
    p_r = (p_l + 0.5) % 1.0
    hip_amp = float(np.arcsin(np.clip(ident.stride_length / (4.0 * ident.leg_length), 0.05, 0.7)))

    legs = {}
    for side, p in (("l", p_l), ("r", p_r)):
        legs[side] = _leg(ident, p, hip_amp)
    # pelvis height: the lowest foot point touches the ground
    lowest = np.minimum.reduce([np.minimum(legs[s][2][:, 1], legs[s][3][:, 1]) for s in ("l", "r")])
    pelvis_y = -lowest
    sway = ident.sway * np.sin(2 * np.pi * p_l)
    pelvis = np.stack([np.zeros_like(t), pelvis_y, sway], -1)

    J: dict[str, np.ndarray] = {"pelvis": pelvis}
    for side, sign in (("l", 1.0), ("r", -1.0)):
        hip = pelvis + np.array([0.0, 0.0, sign * ident.hip_width / 2])
        J[f"hip_{side}"] = hip
        knee_xy, ankle_xy, heel, toe = legs[side]
        for name, xy in (("knee", knee_xy), ("ankle", ankle_xy), ("heel", heel), ("toe", toe)):
            J[f"{name}_{side}"] = hip + np.stack([xy[:, 0], xy[:, 1], np.zeros_like(t)], -1)

    lean = np.radians(ident.lean)
    axis = np.array([np.sin(lean), np.cos(lean), 0.0])
    J["waist"] = pelvis + axis * (0.35 * ident.torso_length)
    J["chest"] = pelvis + axis * (0.72 * ident.torso_length)
    J["neck"] = pelvis + axis * ident.torso_length
    J["head"] = pelvis + axis * (ident.torso_length + ident.neck + 0.5 * ident.head_height)
    # the shoulders ride a little less sway than the pelvis
    J["neck"] = J["neck"] - np.stack([np.zeros_like(t), np.zeros_like(t), 0.4 * sway], -1)
    J["head"] = J["head"] - np.stack([np.zeros_like(t), np.zeros_like(t), 0.5 * sway], -1)

    swing = np.radians(ident.arm_swing)
    abd = np.radians(ident.arm_abduction)
    e0 = np.radians(ident.elbow_flex)
    for side, sign, p_opp in (("l", 1.0, p_r), ("r", -1.0, p_l)):
        sh = J["neck"] + np.array([0.0, -0.02, sign * ident.shoulder_width / 2])
        J[f"shoulder_{side}"] = sh
        fwd = 0.5 + 0.5 * np.cos(2 * np.pi * p_opp)           # 1 when the arm is fully forward
        s = swing * np.cos(2 * np.pi * p_opp) - np.radians(2.0)
        e = e0 + 0.7 * swing * fwd
        if hold_arm == side:
            s = 0.25 * s + np.radians(4.0)
            e = np.full_like(t, np.radians(14.0))
        ca = np.cos(abd)
        d1 = np.stack([np.sin(s) * ca, -np.cos(s) * ca, np.full_like(t, sign * np.sin(abd))], -1)
        d2 = np.stack([np.sin(s + e) * ca, -np.cos(s + e) * ca, np.full_like(t, sign * np.sin(abd) * 0.6)], -1)
        J[f"elbow_{side}"] = sh + ident.upper_arm * d1
        J[f"wrist_{side}"] = J[f"elbow_{side}"] + ident.forearm * d2
        J[f"hand_{side}"] = J[f"wrist_{side}"] + 0.075 * (ident.height / 1.72) * d2

    speed = ident.speed * jitter.speed
    root_x = speed * (t - (frames - 1) / 2.0) / FPS
    return Motion(joints=J, root_x=root_x, lean=float(lean), phase_l=p_l)
