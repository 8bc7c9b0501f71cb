"""Body-part / garment label ids shared by the synthetic generator, parsing and augmentation.

Label maps are uint8 arrays (H x W) with one of these ids per pixel. The set covers the
body and what it wears (head, upper clothes, lower clothes, arms, legs, shoes, bag) plus ``COAT`` as
an outer garment, mirroring LIP's separate coat class so real parsers map onto it cleanly.
"""

BACKGROUND = 0
HEAD = 1
UPPER = 2   # upper clothes (shirt / top)
LOWER = 3   # lower clothes (trousers / skirt)
ARMS = 4    # visible arms and hands
LEGS = 5    # visible legs (below a skirt or shorts)
SHOES = 6
BAG = 7
COAT = 8    # outer garment over the upper clothes

NAMES = {
    BACKGROUND: "background", HEAD: "head", UPPER: "upper_clothes", LOWER: "lower_clothes",
    ARMS: "arms", LEGS: "legs", SHOES: "shoes", BAG: "bag", COAT: "coat",
}
NUM_LABELS = len(NAMES)
GARMENTS = (UPPER, LOWER, COAT)

# COCO-17 keypoint order, used for every pose array of shape (T, 17, 3) = x, y, confidence in pixels.
COCO17 = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
