"""Metric functions on hand-worked cases, boundary cases and properties."""

import numpy as np
import pytest

from egoinstruct.metrics import (
    Segment,
    bootstrap_ci,
    classification_metrics,
    edit_score,
    f1_counts,
    f1_from_counts,
    frame_accuracy,
    levenshtein,
    mean_std,
    paired_bootstrap_test,
    segmentation_metrics,
    segments,
    window_labels,
)

BG = "background"


def seq(spec: str) -> list[str]:
    """'aaab_' -> ['a','a','a','b','background']"""
    return [BG if c == "_" else c for c in spec]


def test_segments_and_end_conventions():
    labels = seq("__aaabb_cc")
    assert segments(labels) == [Segment("a", 2, 5), Segment("b", 5, 7), Segment("c", 8, 10)]
    assert segments(labels, end="asformer")[-1] == Segment("c", 8, 9)
    assert segments(seq("____")) == [] and segments([]) == []
    assert segments(seq("aaaa")) == [Segment("a", 0, 4)]


def test_levenshtein_by_hand():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0


def test_edit_by_hand():
    # segments a b c vs a c -> one deletion over max length 3
    assert edit_score(seq("aabbcc"), seq("aaaccc")) == pytest.approx(100 * (1 - 1 / 3))
    # background is dropped: these have the same segment sequences
    assert edit_score(seq("_aa_bb"), seq("aabb__")) == 100.0
    # over-segmentation is penalised: a b a vs a
    assert edit_score(seq("abaa"), seq("aaaa")) == pytest.approx(100 * (1 - 2 / 3))
    # boundary cases
    assert edit_score(seq("____"), seq("____")) == 100.0
    assert edit_score(seq("____"), seq("aaaa")) == 0.0


def test_f1_by_hand():
    truth = seq("aaaabbbb")
    # prediction: a over 0-6 (IoU with gt a = 4/6), b over 6-8 (IoU with gt b = 2/4)
    pred = seq("aaaaaabb")
    assert f1_counts(pred, truth, 0.10) == (2, 0, 0)
    assert f1_counts(pred, truth, 0.50) == (2, 0, 0)
    assert f1_counts(pred, truth, 0.60) == (1, 1, 1)  # only a (0.667) passes
    assert f1_from_counts(1, 1, 1) == pytest.approx(50.0)


def test_f1_no_second_choice():
    # two predicted 'a' segments both best-match the single ground-truth 'a': the second is FP
    truth = seq("aaaaaaaa")
    pred = seq("aaaa_aaa")
    assert f1_counts(pred, truth, 0.1) == (1, 1, 0)


def test_f1_ties_take_the_first_segment():
    # ground truth a at 0-2 and a at 4-6; prediction a at 1-5 overlaps both with IoU 1/6 each... equal
    truth = seq("aa__aa")
    pred = seq("_aaaa_")
    tp, fp, fn = f1_counts(pred, truth, 0.1)
    assert (tp, fp, fn) == (1, 0, 1)


def test_f1_boundary_cases():
    assert f1_counts(seq("____"), seq("aabb"), 0.1) == (0, 0, 2)  # empty prediction
    assert f1_counts(seq("aabb"), seq("____"), 0.1) == (0, 2, 0)  # all background truth
    assert f1_counts(seq("aaaa"), seq("aaaa"), 0.5) == (1, 0, 0)  # single segment
    assert f1_from_counts(0, 0, 0) == 0.0


def test_end_convention_changes_f1_of_the_last_segment():
    truth = seq("aaaaaab")
    pred = seq("aaaaabb")
    # mstcn: gt b = [6,7), pred b = [5,7) -> IoU 1/2; asformer: gt b = [6,6) empty, pred [5,6)
    assert f1_counts(pred, truth, 0.5, end="mstcn")[0] == 2
    assert f1_counts(pred, truth, 0.5, end="asformer")[0] == 1


def test_perfect_prediction_scores_100():
    truth = [seq("__aaabbb_cc"), seq("bbbbaa__")]
    result = segmentation_metrics(truth, truth)
    assert result == {"accuracy": 100.0, "edit": 100.0, "f1@10": 100.0, "f1@25": 100.0, "f1@50": 100.0}


def test_shifted_boundaries_lower_f1_50_before_f1_10():
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 40, size=6)
    labels = "abcdef"
    truth = [c for i, n in enumerate(lengths) for c in [labels[i]] * n]
    previous = segmentation_metrics([truth], [truth])
    dropped_50_first = False
    for shift in range(1, 20):
        pred = truth[shift:] + [truth[-1]] * shift  # every boundary moves earlier by `shift`
        result = segmentation_metrics([pred], [truth])
        assert result["f1@10"] >= result["f1@25"] >= result["f1@50"]
        assert result["f1@50"] <= previous["f1@50"] and result["f1@10"] <= previous["f1@10"]
        if result["f1@50"] < 100 and result["f1@10"] == 100:
            dropped_50_first = True
        previous = result
    assert dropped_50_first


def _reference_counts(pred, truth, overlap):
    """The literature's algorithm, restated independently (loop over frame indices)."""
    def segs(labels):
        out, start = [], 0
        for i in range(1, len(labels) + 1):
            if i == len(labels) or labels[i] != labels[i - 1]:
                if labels[start] != BG:
                    out.append((labels[start], start, i))
                start = i
        return out
    p, y = segs(pred), segs(truth)
    hits = [False] * len(y)
    tp = fp = 0
    for label, s, e in p:
        ious = [((min(e, ye) - max(s, ys)) / (max(e, ye) - min(s, ys))) * (label == yl) for yl, ys, ye in y]
        if not ious:
            fp += 1
            continue
        j = max(range(len(ious)), key=lambda k: (ious[k], -k))
        if ious[j] >= overlap and not hits[j]:
            tp += 1
            hits[j] = True
        else:
            fp += 1
    return tp, fp, len(y) - sum(hits)


def test_matches_reference_algorithm_on_random_sequences():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        truth = list(rng.choice(["a", "b", "c", BG], size=n))
        pred = list(rng.choice(["a", "b", "c", BG], size=n))
        for overlap in (0.1, 0.25, 0.5):
            assert f1_counts(pred, truth, overlap) == _reference_counts(pred, truth, overlap)


def test_frame_accuracy_is_pooled():
    # session 1: 1/2 correct, session 2: 4/4 -> pooled 5/6, not the mean 0.75
    assert frame_accuracy([["a", "b"], ["a"] * 4], [["a", "a"], ["a"] * 4]) == pytest.approx(500 / 6)
    with pytest.raises(ValueError):
        frame_accuracy([["a"]], [["a", "b"]])


def test_classification_metrics_by_hand():
    truth = ["x", "x", "y", "y", "z"]
    pred = ["x", "y", "y", "y", "unparseable"]
    m = classification_metrics(pred, truth, labels=["x", "y", "z"])
    assert m["accuracy"] == pytest.approx(60.0)
    assert m["per_class"]["x"] == {"precision": 100.0, "recall": 50.0, "f1": pytest.approx(200 / 3), "support": 2}
    assert m["per_class"]["y"]["precision"] == pytest.approx(200 / 3) and m["per_class"]["y"]["recall"] == 100.0
    assert m["per_class"]["z"]["f1"] == 0.0
    assert m["labels"] == ["x", "y", "z", "unparseable"]
    assert m["confusion"][2].tolist() == [0, 0, 0, 1]  # z predicted as unparseable
    # macro over x, y, z, unparseable (all present): (66.7 + 80 + 0 + 0) / 4
    assert m["macro_f1"] == pytest.approx((200 / 3 + 80 + 0 + 0) / 4)


def test_window_labels_majority_and_ties():
    assert window_labels(list("aabbb"), 5, 5) == ["b"]
    assert window_labels(list("aabb"), 4, 2) == ["a"]  # tie -> first in the window
    assert window_labels(list("aaaabbbb"), 4, 4) == ["a", "b"]


def test_mean_std_and_bootstrap():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2)))
    assert mean_std([5.0]) == (5.0, 0.0)
    sessions = [(seq("aabb"), seq("aabb")), (seq("aaaa"), seq("bbbb")), (seq("abab"), seq("abab"))]
    acc = lambda s: frame_accuracy([p for p, _ in s], [y for _, y in s])  # noqa: E731
    low, high = bootstrap_ci(sessions, acc, n_resamples=300)
    assert 0 <= low <= acc(sessions) <= high <= 100
    # method B is wrong on 8 of 12 sessions, A always right: a clear, significant difference
    many = [(seq("aaaa"), seq("bbbb")) if i % 3 else (seq("aabb"), seq("aabb")) for i in range(12)]
    perfect = [(y, y) for _, y in many]
    test = paired_bootstrap_test(perfect, many, acc, n_resamples=300)
    assert test["difference"] == pytest.approx(100 - acc(many))
    assert test["p_value"] < 0.01
    same = paired_bootstrap_test(sessions, sessions, acc, n_resamples=100)
    assert same["difference"] == 0.0 and same["p_value"] == 1.0


def test_pooled_counts_equal_the_direct_metrics():
    from egoinstruct.metrics import pool_segmentation, session_segmentation_counts

    rng = np.random.default_rng(2)
    for _ in range(30):
        sessions = []
        for _ in range(int(rng.integers(1, 5))):
            n = int(rng.integers(1, 30))
            sessions.append((list(rng.choice(["a", "b", BG], size=n)), list(rng.choice(["a", "b", BG], size=n))))
        preds, truths = [p for p, _ in sessions], [y for _, y in sessions]
        for end in ("mstcn", "asformer"):
            counts = [session_segmentation_counts(p, y, end=end) for p, y in sessions]
            assert pool_segmentation(counts) == pytest.approx(segmentation_metrics(preds, truths, end=end))
        assert pool_segmentation([]) == pytest.approx({k: float("nan") for k in
                                                       ["accuracy", "edit", "f1@10", "f1@25", "f1@50"]}, nan_ok=True)


def test_segmentation_boundary_cases_by_hand():
    # empty input: nothing to score
    empty = segmentation_metrics([], [])
    assert all(np.isnan(v) for v in empty.values())
    # all background on both sides: every frame right, no segment to find -> Edit 100, F1 0 (no TP)
    assert segmentation_metrics([seq("____")], [seq("____")]) == {
        "accuracy": 100.0, "edit": 100.0, "f1@10": 0.0, "f1@25": 0.0, "f1@50": 0.0}
    # empty prediction (all background) vs two segments: Edit 0, two false negatives
    result = segmentation_metrics([seq("______")], [seq("aaabbb")])
    assert result["accuracy"] == 0.0 and result["edit"] == 0.0 and result["f1@10"] == 0.0
    # a single predicted segment over two true ones: Edit 1 - 1/2; the segment matches a (IoU 1/2):
    # TP 1, FP 0, FN 1 -> F1 = 2 * 1 * 0.5 / 1.5
    result = segmentation_metrics([seq("aaaaaa")], [seq("aaabbb")])
    assert result["edit"] == pytest.approx(50.0)
    assert result["f1@50"] == pytest.approx(200 / 3) and result["accuracy"] == pytest.approx(50.0)


def test_classification_from_confusion_matches_and_handles_empty():
    from egoinstruct.metrics import classification_from_confusion, confusion_matrix

    truth = ["x", "x", "y", "z"]
    pred = ["x", "y", "y", "unparseable"]
    labels, confusion = confusion_matrix(pred, truth, ["x", "y", "z"])
    assert labels == ["x", "y", "z", "unparseable"]
    assert classification_from_confusion(labels, confusion)["macro_f1"] == pytest.approx(
        classification_metrics(pred, truth, ["x", "y", "z"])["macro_f1"])
    # summing per-session matrices equals scoring the pooled frames
    _, first = confusion_matrix(pred[:2], truth[:2], labels)
    _, second = confusion_matrix(pred[2:], truth[2:], labels)
    assert (first + second == confusion).all()
    nothing = classification_from_confusion(["x"], np.zeros((1, 1), dtype=int))
    assert np.isnan(nothing["accuracy"]) and np.isnan(nothing["macro_f1"])
    with pytest.raises(ValueError):
        classification_from_confusion(["x", "y"], np.zeros((1, 1), dtype=int))


def test_multi_metric_bootstrap_equals_single_metric():
    from egoinstruct.metrics import bootstrap_cis, paired_bootstrap_tests

    sessions = [(seq("aabb"), seq("aabb")), (seq("aaaa"), seq("bbbb")), (seq("abab"), seq("abab")),
                (seq("aab_"), seq("aabb"))]
    acc = lambda s: frame_accuracy([p for p, _ in s], [y for _, y in s])  # noqa: E731
    both = lambda s: {"acc": acc(s), "edit": float(np.mean([edit_score(p, y) for p, y in s]))}  # noqa: E731
    assert bootstrap_cis(sessions, both, 200, seed=4)["acc"] == bootstrap_ci(sessions, acc, 200, seed=4)
    shifted = [(y, y) for _, y in sessions]
    tests = paired_bootstrap_tests(shifted, sessions, both, 200, seed=4)
    assert tests["acc"] == paired_bootstrap_test(shifted, sessions, acc, 200, seed=4)
    assert bootstrap_cis([], both) == {} and paired_bootstrap_tests([], [], both) == {}
