"""Evaluation protocols: metrics, CCVID, GREW, the dispatcher, and CASIA-B against OpenGait's rules.

Expected numbers are worked out by hand in the comments; the reference re-statements below are
plain loops written from the published protocol descriptions, independent of the vectorised code.
"""

import csv

import numpy as np
import pytest
import torch

from core.errors import ConfigError, InputError
from core.evaluate.casia_b import evaluate_casia_b
from core.evaluate.ccvid import camera_from_tracklet, ccvid_rank_metrics, evaluate_ccvid
from core.evaluate.grew import evaluate_grew, submission_id, write_grew_submission
from core.evaluate.metrics import rank_metrics, top_k
from core.evaluate.protocols import check_arrays, evaluate, evaluate_npz, load_embeddings_npz
from core.readers.base import HIDDEN_SID

# ---------------------------------------------------------------------------------------------
# metrics

G_LABELS = ["a", "b", "a", "c", "b"]
DIST = np.array([
    [0.1, 0.2, 0.3, 0.4, 0.5],   # q 'a': ranked a b a c b -> hits at ranks 1, 3
    [0.5, 0.4, 0.3, 0.2, 0.1],   # q 'b': ranked b c a b a -> hits at ranks 1, 4
    [0.1, 0.2, 0.3, 0.5, 0.4],   # q 'c': ranked a b a b c -> hit at rank 5
    [0.3, 0.1, 0.2, 0.5, 0.4],   # q 'd': not in the gallery -> skipped
])
Q_LABELS = ["a", "b", "c", "d"]


def test_rank_metrics_hand_computed():
    m = rank_metrics(DIST, Q_LABELS, G_LABELS)
    assert m.first_hit.tolist() == [0, 0, 4, -1]
    # AP: q_a (1/1 + 2/3)/2, q_b (1/1 + 2/4)/2, q_c 1/5
    assert m.ap[:3] == pytest.approx([5 / 6, 0.75, 0.2])
    # INP = hits / rank of the last hit: 2/3, 2/4, 1/5
    assert m.inp[:3] == pytest.approx([2 / 3, 0.5, 0.2])
    assert np.isnan(m.ap[3]) and m.num_valid == 3 and m.num_skipped == 1
    assert m.cmc(1) == pytest.approx(2 / 3) and m.cmc(4) == pytest.approx(2 / 3) and m.cmc(5) == 1.0
    assert m.cmc(1, over="all") == pytest.approx(2 / 4)
    assert m.mAP == pytest.approx((5 / 6 + 0.75 + 0.2) / 3)
    assert m.mINP == pytest.approx((2 / 3 + 0.5 + 0.2) / 3)
    s = m.summary(ks=(1, 5))
    assert s["rank-1"] == pytest.approx(200 / 3) and s["rank-5"] == pytest.approx(100.0)
    assert s["mAP"] == pytest.approx(100 * (5 / 6 + 0.75 + 0.2) / 3)
    assert (s["num_probes"], s["num_valid"], s["num_skipped"]) == (4, 3, 1)


def test_rank_metrics_junk_removed_before_ranking():
    junk = np.zeros((4, 5), bool)
    junk[0, 1] = True       # q_a loses the 'b' at rank 2: a a c b -> hits at 1, 2: AP 1, INP 1
    junk[1, 4] = True       # q_b loses its rank-1 'b': c a b a -> hit at rank 3: AP 1/3, INP 1/3
    junk[2, 3] = True       # q_c loses its only 'c' -> skipped
    m = rank_metrics(DIST, Q_LABELS, G_LABELS, junk=junk)
    assert m.first_hit.tolist() == [0, 2, -1, -1]
    assert m.ap[:2] == pytest.approx([1.0, 1 / 3]) and m.inp[:2] == pytest.approx([1.0, 1 / 3])
    assert m.num_skipped == 2 and m.cmc(1) == 0.5 and m.cmc(3) == 1.0
    # the same mask given block-wise by a function, one probe per chunk
    m2 = rank_metrics(torch.tensor(DIST), Q_LABELS, G_LABELS, junk=lambda rows: junk[rows], chunk_elems=1)
    assert m2.first_hit.tolist() == m.first_hit.tolist()
    np.testing.assert_allclose(m2.ap, m.ap)


def test_rank_metrics_ties_keep_gallery_order_and_errors():
    m = rank_metrics(np.zeros((1, 3)), ["x"], ["y", "x", "x"])
    assert m.first_hit.tolist() == [1] and m.ap[0] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert top_k(np.array([[3.0, 1.0, 2.0, 1.0]]), 3).tolist() == [[1, 3, 2]]
    with pytest.raises(ValueError, match="2 probe labels"):
        rank_metrics(DIST, ["a", "b"], G_LABELS)
    with pytest.raises(ValueError, match="junk mask"):
        rank_metrics(DIST, Q_LABELS, G_LABELS, junk=np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="NaN"):
        rank_metrics(np.full((1, 2), np.nan), ["a"], ["a", "b"])
    empty = rank_metrics(np.zeros((2, 0)), ["a", "b"], [])
    assert empty.num_valid == 0 and empty.cmc(1) is None and empty.mAP is None


# ---------------------------------------------------------------------------------------------
# CCVID

def _angles(theta, scale=None):
    v = np.stack([np.cos(theta), np.sin(theta)], 1)
    return v * (np.ones(len(theta)) if scale is None else np.asarray(scale))[:, None]


# gallery ordered by angle from query 1 (at angle 0); cosine ranking follows the angle
GALLERY = [  # angle, id, camera, clothes
    (0.1, "1", "1", "1_a"),   # same id+camera: junk everywhere
    (0.2, "2", "2", "2_a"),   # other id
    (0.3, "1", "2", "1_a"),   # general match; CC junk (same clothes); SC match
    (0.4, "1", "3", "1_b"),   # general match; CC match; SC junk (other clothes)
    (0.5, "3", "1", "3_a"),   # other id seen by the query's camera: NOT junk
    (0.6, "1", "1", "1_b"),   # same id+camera: junk everywhere
]
QUERIES = [
    (0.0, "1", "1", "1_a"),
    (0.21, "2", "5", "2_a"),  # nearest g1 (its only match, same clothes), then g2, g0, g3, g4, g5
    (1.0, "4", "1", "4_a"),   # id absent from the gallery: skipped
]


def ccvid_case(scale_gallery=True):
    rows = [(*q, "query") for q in QUERIES] + [(*g, "gallery") for g in GALLERY]
    theta = np.array([r[0] for r in rows])
    # wildly different norms: cosine ranking must not care, Euclidean would
    scale = [1.0] * len(QUERIES) + ([5.0, 0.2, 3.0, 0.5, 9.0, 0.1] if scale_gallery else [1.0] * len(GALLERY))
    emb = _angles(theta, scale).astype(np.float32)[:, :, None]          # (n, C=2, P=1)
    return dict(embeddings=emb, labels=[r[1] for r in rows], cameras=[r[2] for r in rows],
                clothes=[r[3] for r in rows], roles=[r[4] for r in rows])


def test_ccvid_general_cc_sc_hand_computed():
    res = evaluate_ccvid(**ccvid_case())
    assert (res["num_query"], res["num_gallery"]) == (3, 6)
    gen, cc, sc = res["general"], res["cc"], res["sc"]
    # general: q1 ranks (junk g0, g5 removed) g1 x, g2 hit, g3 hit, g4 x -> first hit rank 2,
    #   AP (1/2 + 2/3)/2, INP 2/3; q2 hits at rank 1 (AP 1); q3 skipped
    assert (gen["num_valid"], gen["num_skipped"]) == (2, 1)
    assert gen["rank-1"] == pytest.approx(50.0) and gen["rank-5"] == pytest.approx(100.0)
    assert gen["mAP"] == pytest.approx(100 * ((1 / 2 + 2 / 3) / 2 + 1) / 2)
    assert gen["mINP"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    # CC: q1 keeps g1 x, g3 hit, g4 x -> rank 2, AP 1/2; q2's only match wears its clothes -> skipped
    assert (cc["num_valid"], cc["num_skipped"]) == (1, 2)
    assert cc["rank-1"] == 0.0 and cc["rank-5"] == pytest.approx(100.0) and cc["mAP"] == pytest.approx(50.0)
    # SC: q1 keeps g1 x, g2 hit, g4 x -> AP 1/2; q2 hit at rank 1
    assert sc["rank-1"] == pytest.approx(50.0) and sc["mAP"] == pytest.approx(75.0)


def test_ccvid_cosine_ignores_norms_but_euclidean_does_not():
    a = evaluate_ccvid(**ccvid_case(scale_gallery=True))
    b = evaluate_ccvid(**ccvid_case(scale_gallery=False))
    assert a["general"] == b["general"] and a["cc"] == b["cc"]
    e = evaluate_ccvid(**ccvid_case(scale_gallery=True), metric="euc")
    assert e["general"]["mAP"] != pytest.approx(a["general"]["mAP"])


def test_ccvid_cameras_from_tracklets():
    assert camera_from_tracklet("session1/001_02") == 2
    assert camera_from_tracklet("session3/001_02") == 14
    assert camera_from_tracklet("001_11") == 11
    with pytest.raises(ValueError, match="tracklet"):
        camera_from_tracklet("session1/001")
    case = ccvid_case()
    # the same cameras written as zero-padded numbers or as tracklet paths give the same result
    padded = dict(case, cameras=[c.zfill(2) for c in case["cameras"]])
    paths = dict(case, cameras=[f"session1/{lab}_{int(c):02d}" for lab, c in zip(case["labels"], case["cameras"])])
    ref = evaluate_ccvid(**case)
    assert evaluate_ccvid(**padded)["cc"] == ref["cc"] and evaluate_ccvid(**paths)["general"] == ref["general"]
    # session 3 shifts the camera: the query's same-numbered session-3 entry is no longer junk
    s3 = dict(case, cameras=["session1/1_01"] + case["cameras"][1:3] + ["session3/1_01"] + case["cameras"][4:])
    assert evaluate_ccvid(**s3)["general"]["rank-1"] == pytest.approx(100.0)


def _simple_ccreid_loop(dist, qp, gp, qc, gc, qk, gk, mode):
    """Re-statement of Simple-CCReID's evaluation with plain loops (CMC curve, mAP over valid queries)."""
    ng = dist.shape[1]
    cmc_sum, ap_sum, valid = np.zeros(ng), 0.0, 0
    for i in range(len(dist)):
        good, junk = [], []
        for j in range(ng):
            if gp[j] != qp[i]:
                continue
            bad = gc[j] == qc[i]
            if mode == "cc":
                bad = bad or gk[j] == qk[i]
            if mode == "sc":
                bad = bad or gk[j] != qk[i]
            (junk if bad else good).append(j)
        if not good:
            continue
        valid += 1
        ranked = [j for j in sorted(range(ng), key=lambda j: (dist[i, j], j)) if j not in junk]
        hit_rows = [r for r, j in enumerate(ranked) if j in good]
        cmc_sum[hit_rows[0]:] += 1
        ap_sum += sum((h + 1) / (r + 1) for h, r in enumerate(hit_rows)) / len(good)
    return cmc_sum / valid, ap_sum / valid


@pytest.mark.parametrize("mode", ["general", "cc", "sc"])
def test_ccvid_matches_simple_ccreid_restatement_on_random_data(mode):
    rng = np.random.default_rng(3)
    nq, ng = 12, 30
    qp, gp = rng.integers(0, 5, nq).astype(str), rng.integers(0, 5, ng).astype(str)
    qp[-1] = "9"                                       # an id the gallery lacks
    qc, gc = rng.integers(1, 4, nq).astype(str), rng.integers(1, 4, ng).astype(str)
    qk = np.char.add(qp, rng.integers(0, 2, nq).astype(str))
    gk = np.char.add(gp, rng.integers(0, 2, ng).astype(str))
    dist = rng.random((nq, ng))
    cmc, mAP = _simple_ccreid_loop(dist, qp, gp, qc, gc, qk, gk, mode)
    m = ccvid_rank_metrics(dist, qp, gp, qc, gc, qk, gk, mode)
    assert m.num_valid > 3 and m.num_skipped > 0      # the case exercises both branches
    assert m.mAP == pytest.approx(mAP)
    assert [m.cmc(k) for k in (1, 5, 10, 20)] == pytest.approx([cmc[k - 1] for k in (1, 5, 10, 20)])


# ---------------------------------------------------------------------------------------------
# GREW

def grew_case():
    # gallery on a line: id 7 at 0 and 2, id 12 at 1, id 3 at 3 (two identical parts each)
    gal = [(0.0, "00007", "g0"), (1.0, "00012", "g1"), (2.0, "00007", "g2"), (3.0, "00003", "g3")]
    prb = [(0.9, "00007", "pA"),          # ranks g1 g0 g2 g3 -> first hit at rank 2
           (3.2, "00003", "pB"),          # g3 first -> rank 1
           (1.4, "00099", "pC"),          # id not in the gallery: counted as a miss
           (2.4, HIDDEN_SID, "pD")]       # hidden id: submission only
    rows = [(*g, "gallery") for g in gal] + [(*p, "probe") for p in prb]
    emb = np.repeat(np.array([r[0] for r in rows], np.float32)[:, None, None], 2, axis=2)
    return dict(embeddings=emb, labels=[r[1] for r in rows], seqs=[r[2] for r in rows], roles=[r[3] for r in rows])


def test_grew_rank_k_and_submission(tmp_path):
    out = tmp_path / "sub" / "grew.csv"
    res = evaluate_grew(**grew_case(), ks=(1, 2, 5), submission=out, top=3)
    # three known probes: rank-1 only pB; rank-2 pA and pB; pC never
    assert res["rank-1"] == 33.33 and res["rank-2"] == 66.67 and res["rank-5"] == 66.67
    assert res["num_hidden_probe"] == 1 and res["num_probe_without_gallery_id"] == 1
    rows = list(csv.reader(out.open()))
    assert rows == [["videoId", "rank1", "rank2", "rank3"],
                    ["pA", "12", "7", "7"],      # distances .1 (g1), .9 (g0), 1.1 (g2)
                    ["pB", "3", "7", "12"],      # .2 (g3), 1.2 (g2), 2.2 (g1)
                    ["pC", "12", "7", "7"],      # .4 (g1), .6 (g2), 1.4 (g0)
                    ["pD", "7", "3", "12"]]      # .4 (g2), .6 (g3), 1.4 (g1)
    assert "official server expects 20" in res["submission_note"]
    assert [p.name for p in out.parent.iterdir()] == ["grew.csv"]     # no temporary left behind


def test_grew_hidden_probes_give_only_the_csv(tmp_path):
    case = grew_case()
    case["labels"] = [lab if role == "gallery" else HIDDEN_SID for lab, role in zip(case["labels"], case["roles"])]
    res = evaluate_grew(**case, submission=tmp_path / "s.csv")
    assert res["rank-1"] is None and "hidden" in res["note"] and res["num_hidden_probe"] == 4
    rows = list(csv.reader((tmp_path / "s.csv").open()))
    assert len(rows) == 5 and rows[0][:2] == ["videoId", "rank1"] and len(rows[1]) == 1 + 4


def test_write_grew_submission_format(tmp_path):
    ranked = np.array([[f"{i:05d}" for i in range(1, 21)], [f"id{i}" for i in range(20)]])
    p = write_grew_submission(tmp_path / "x.csv", ["abc12345", "zz"], ranked)
    lines = p.read_text().splitlines()
    assert lines[0] == "videoId," + ",".join(f"rank{i}" for i in range(1, 21))
    assert lines[1] == "abc12345," + ",".join(str(i) for i in range(1, 21))
    assert lines[2].startswith("zz,id0,id1,") and len(lines) == 3
    assert submission_id("00042") == "42" and submission_id("p7") == "p7"
    with pytest.raises(ValueError, match="comma"):
        write_grew_submission(tmp_path / "y.csv", ["a,b"], ranked[:1])
    with pytest.raises(ValueError, match="2 probe sequences but 1"):
        write_grew_submission(tmp_path / "y.csv", ["a", "b"], ranked[:1])
    assert not (tmp_path / "y.csv").exists()


# ---------------------------------------------------------------------------------------------
# dispatcher and npz files

def test_dispatcher_and_errors():
    assert evaluate("ccvid", **ccvid_case())["general"] == evaluate_ccvid(**ccvid_case())["general"]
    g = evaluate("GREW", **grew_case())
    assert g["metric"] == "euc" and g["rank-1"] == 33.33
    with pytest.raises(ConfigError, match="unknown protocol"):
        evaluate("market", **ccvid_case())
    with pytest.raises(ConfigError, match="not available"):
        evaluate("ccvid", metric="hamming", **ccvid_case())
    with pytest.raises(ConfigError, match="submission"):
        evaluate("ccvid", submission="x.csv", **ccvid_case())
    case = ccvid_case()
    del case["clothes"]
    with pytest.raises(ValueError, match="missing array clothes"):
        evaluate("ccvid", **case)
    case = ccvid_case()
    case["cameras"] = case["cameras"][:-1]
    with pytest.raises(ValueError, match="cameras has 8 entries but embeddings has 9"):
        evaluate("ccvid", **case)
    assert check_arrays("grew", grew_case()) == []


def test_npz_loading_names_file_and_array(tmp_path):
    good = tmp_path / "e.npz"
    np.savez(good, **{k: np.asarray(v) for k, v in ccvid_case().items()}, extra=np.arange(3))
    arrays = load_embeddings_npz(good, "ccvid")
    assert sorted(arrays) == ["cameras", "clothes", "embeddings", "labels", "roles"]
    assert evaluate_npz(good, "ccvid")["cc"]["mAP"] == pytest.approx(50.0)
    with pytest.raises(InputError, match=r"e\.npz.*missing arrays seqs.*grew|e\.npz.*missing array seqs"):
        load_embeddings_npz(good, "grew")
    obj = tmp_path / "obj.npz"
    np.savez(obj, embeddings=np.zeros((2, 3)), labels=np.array(["a", None], dtype=object), types=np.array(["x", "y"]),
             views=np.array(["1", "2"]))
    with pytest.raises(InputError, match="obj.npz.*string arrays"):
        load_embeddings_npz(obj, "casia-b")
    short = tmp_path / "short.npz"
    np.savez(short, embeddings=np.zeros((3, 4)), labels=np.array(["a", "b"]), types=np.array(["nm-01"] * 3),
             views=np.array(["0"] * 3))
    with pytest.raises(InputError, match="short.npz: labels has 2 entries but embeddings has 3"):
        load_embeddings_npz(short, "casia-b")
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    with pytest.raises(InputError, match="junk.npz"):
        load_embeddings_npz(junk, "casia-b")
    with pytest.raises(InputError, match="no such"):
        load_embeddings_npz(tmp_path / "missing.npz", "casia-b")
    # casia-b through the file: the same numbers as calling evaluate_casia_b directly
    rng = np.random.default_rng(0)
    types = ["nm-01", "nm-02", "nm-05", "bg-01", "cl-01"] * 4
    labels = ["1"] * 10 + ["2"] * 10
    views = (["000"] * 5 + ["090"] * 5) * 2
    emb = rng.normal(size=(20, 3, 2)).astype(np.float32)
    cb = tmp_path / "cb.npz"
    np.savez(cb, embeddings=emb, labels=np.array(labels), types=np.array(types), views=np.array(views))
    res = evaluate_npz(cb, "casia-b", metric="cos")
    direct = evaluate_casia_b(emb, labels, types, views, metric="cos")
    assert res["protocol"] == "casia-b" and res["embeddings_file"] == str(cb)
    assert all(res[k] == direct[k] for k in ("NM", "BG", "CL", "matrix"))


# ---------------------------------------------------------------------------------------------
# CASIA-B against a re-statement of OpenGait's single-view-gallery evaluation

OG_GALLERY = ["nm-01", "nm-02", "nm-03", "nm-04"]
OG_PROBES = {"NM": ["nm-05", "nm-06"], "BG": ["bg-01", "bg-02"], "CL": ["cl-01", "cl-02"]}


def _opengait_single_view(feature, label, seq_type, view):
    """OpenGait's rules as plain loops: views = every view in the data, sorted; each (probe view,
    gallery view) cell = rank-1 percent over that view's probes against that view's gallery,
    rounded to two decimals; per probe view, the off-diagonal cells summed and divided by
    (views - 1); the condition = plain mean of those (no further rounding)."""
    views = sorted(set(view))
    out = {}
    for cond, ptypes in OG_PROBES.items():
        cells = np.zeros((len(views), len(views)))
        for a, pv in enumerate(views):
            probes = [i for i in range(len(label)) if seq_type[i] in ptypes and view[i] == pv]
            for b, gv in enumerate(views):
                gallery = [j for j in range(len(label)) if seq_type[j] in OG_GALLERY and view[j] == gv]
                correct = 0
                for i in probes:
                    best, best_d = None, None
                    for j in gallery:
                        d = 0.0
                        for p in range(feature.shape[2]):
                            d += np.sqrt(sum((float(feature[i, c, p]) - float(feature[j, c, p])) ** 2
                                             for c in range(feature.shape[1])))
                        d /= feature.shape[2]
                        if best_d is None or d < best_d:
                            best, best_d = j, d
                    correct += label[best] == label[i]
                cells[a, b] = np.round(correct * 100 / len(probes), 2)
        per_view = [sum(cells[a, b] for b in range(len(views)) if b != a) / (len(views) - 1) for a in range(len(views))]
        out[cond] = (cells, per_view, float(np.mean(per_view)))
    return views, out


def test_casia_b_equals_opengait_restatement():
    rng = np.random.default_rng(11)
    ids, views, C, P = ["075", "076", "077"], ["000", "090", "180"], 4, 2
    centre = {sid: rng.normal(size=(C, P)) for sid in ids}
    shift = {v: rng.normal(scale=0.6, size=(C, P)) for v in views}            # view changes the look
    cond_noise = {"nm": 0.5, "bg": 0.8, "cl": 1.2}
    feats, labels, types, vs = [], [], [], []
    for sid in ids:
        for v in views:
            for t in OG_GALLERY + sum(OG_PROBES.values(), []):
                noise = cond_noise[t[:2]] if t not in OG_GALLERY else 0.5
                feats.append(centre[sid] + shift[v] + rng.normal(scale=noise, size=(C, P)))
                labels.append(sid), types.append(t), vs.append(v)
    feats = np.array(feats, np.float32)
    og_views, og = _opengait_single_view(feats, labels, types, vs)
    res = evaluate_casia_b(feats, labels, types, vs)
    assert res["views"] == og_views
    rounding_mattered = False
    for cond, (cells, per_view, mean) in og.items():
        ours = np.array([[np.nan if x is None else x for x in row] for row in res["matrix"][cond]])
        off = ~np.eye(3, dtype=bool)
        np.testing.assert_allclose(ours[off], cells[off], atol=1e-9)
        assert np.isnan(np.diag(ours)).all()
        assert [res["per_view"][cond][v] for v in views] == pytest.approx(per_view, abs=1e-9)
        # casia_b rounds the condition mean to four decimals; OpenGait keeps it as is
        assert res[cond] == pytest.approx(mean, abs=5e-5)
        rounding_mattered |= bool(np.any(np.abs(cells * 6 / 100 - np.round(cells * 6 / 100)) > 1e-6))
    # 6 probes per cell: shares like 5/6 must have been rounded (83.333.. -> 83.33)
    assert rounding_mattered
    assert og["CL"][2] < og["NM"][2]
