"""The multilingual model, language detection, calibration and the setting, with the real model."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from partnermatch.matching import multilingual
from partnermatch.matching.multilingual import (
    CALIBRATION_FILE,
    DIMENSION,
    MODEL_ID,
    MultilingualEncoder,
    MultilingualMode,
    detect_language,
    get_calibration,
    multilingual_mode,
    to_minilm_scale,
)
from partnermatch.matching.ranking import SUPPORT_THRESHOLD

VIETNAMESE_NEED = (
    "Chúng tôi cần một phòng thí nghiệm thử nghiệm an toàn và tuổi thọ chu kỳ "
    "cho bộ pin lithium của xe máy điện trước khi xuất khẩu."
)
ENGLISH_COUNTERPART = (
    "Our accredited laboratory tests the safety and cycle life of lithium battery packs "
    "for electric scooters before export."
)
# Each shares many words with the need, and means something else.
ENGLISH_DECOYS = (
    "We sell electric scooters with new lithium battery packs and give a two-year warranty.",
    "We collect used lithium batteries from electric scooters and recycle them before export.",
    "Our laboratory tests pesticide residues in dried fruit before export.",
    "We need a safety officer for our lithium battery warehouse.",
)


@pytest.fixture(scope="module")
def encoder() -> MultilingualEncoder:
    """One real model for the module: loading it once is what the engine does too."""
    return MultilingualEncoder(threads=1)


def test_a_vietnamese_need_finds_its_english_counterpart_above_english_decoys(encoder):
    offers = encoder.encode_passages([*ENGLISH_DECOYS, ENGLISH_COUNTERPART])
    scores = offers @ encoder.encode_query(VIETNAMESE_NEED)

    assert int(np.argmax(scores)) == len(ENGLISH_DECOYS), scores


def test_vectors_are_normalised_float32_rows_one_per_text(encoder):
    passages = encoder.encode_passages(["aluminium die casting", "đúc nhôm", "鋁壓鑄"])
    query = encoder.encode_query("die casting partner")

    assert passages.shape == (3, DIMENSION) and passages.dtype == np.float32
    assert query.shape == (DIMENSION,) and query.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-4)


def test_passages_are_encoded_in_batches_as_if_one_by_one(encoder):
    texts = [f"Kami menawarkan pengujian baterai nomor {i} untuk skuter listrik." for i in range(5)]

    in_batches = encoder.encode_passages(texts, batch_size=2)
    one_by_one = np.stack([encoder.encode_passages([text])[0] for text in texts])

    np.testing.assert_allclose(in_batches, one_by_one, atol=1e-5)


def test_no_passages_give_an_empty_matrix(encoder):
    assert encoder.encode_passages([]).shape == (0, DIMENSION)


def test_queries_and_passages_get_the_models_own_prefixes(encoder):
    text = "carbon fibre bicycle frames"

    query = encoder.encode_query(text)
    passage = encoder.encode_passages([text])[0]

    assert not np.allclose(query, passage, atol=1e-3)
    assert float(query @ passage) > 0.9


def test_the_model_loads_once_whichever_threads_ask_at_the_same_time():
    fresh = MultilingualEncoder()
    texts = [f"Chúng tôi cần đối tác đúc nhôm số {i}." for i in range(8)]
    serial = MultilingualEncoder().encode_passages(texts)

    with ThreadPoolExecutor(max_workers=4) as pool:
        rows = list(pool.map(lambda text: fresh.encode_passages([text])[0], texts))
        models = list(pool.map(lambda _: fresh.model, range(8)))

    assert len({id(model) for model in models}) == 1
    np.testing.assert_allclose(np.stack(rows), serial, atol=1e-5)


def test_module_functions_share_one_encoder():
    assert multilingual.get_encoder() is multilingual.get_encoder()
    vector = multilingual.encode_query("hydrogen trucks")
    assert vector.shape == (DIMENSION,)
    assert multilingual.encode_passages(["hydrogen trucks"]).shape == (1, DIMENSION)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("We offer five-axis CNC machining of titanium parts with ISO 13485 certification.", "en"),
        ("我們提供鈦合金醫療器材零件的五軸CNC加工，並已取得ISO 13485認證。", "zh_Hant"),  # noqa: RUF001
        ("Chúng tôi cung cấp dịch vụ gia công CNC năm trục cho thiết bị y tế.", "vi"),
        ("Ofrecemos mecanizado CNC de cinco ejes para dispositivos médicos.", "es"),
        ("เราให้บริการกลึงกัดชิ้นส่วนด้วยเครื่อง CNC ห้าแกนสำหรับเครื่องมือแพทย์", "th"),
        ("Kami menawarkan permesinan CNC lima sumbu untuk perangkat medis.", "id"),
        ("我们提供钛合金医疗器材零件的五轴CNC加工，并已取得ISO 13485认证。", "zh_Hans"),  # noqa: RUF001
    ],
)
def test_detects_the_language_of_a_profile_text_with_english_terms_in_it(text, language):
    assert detect_language(text) == language


@pytest.mark.parametrize("text", ["", "   ", "2025-11-26 / 17025", "12345"])
def test_a_text_without_words_is_in_no_language(text):
    assert detect_language(text) == "other"


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("auto", MultilingualMode.AUTO),
        ("always", MultilingualMode.ALWAYS),
        ("off", MultilingualMode.OFF),
        (" Always ", MultilingualMode.ALWAYS),
        ("OFF", MultilingualMode.OFF),
        (None, MultilingualMode.AUTO),
        ("", MultilingualMode.AUTO),
    ],
)
def test_parses_the_multilingual_setting(value, mode):
    assert multilingual_mode(value) is mode


def test_an_unset_setting_takes_the_default_given():
    assert multilingual_mode(None, default=MultilingualMode.OFF) is MultilingualMode.OFF


@pytest.mark.parametrize("value", ["on", "yes", "1", "auto,always", "multilingual"])
def test_an_unknown_setting_is_refused_naming_the_setting_and_the_choices(value):
    with pytest.raises(ValueError, match=r"PARTNERMATCH_MULTILINGUAL.*auto, always, off"):
        multilingual_mode(value)


def test_calibration_keeps_the_order_of_scores_and_the_range_of_cosines():
    cosines = np.linspace(-1.0, 1.0, 41)

    mapped = to_minilm_scale(cosines, "en", "vi")

    assert mapped.dtype == np.float32
    assert np.all(np.diff(mapped) >= 0)
    assert mapped.min() >= -1.0 and mapped.max() <= 1.0
    assert isinstance(to_minilm_scale(0.85, "th", "en"), float)


def test_on_minilms_scale_a_translation_passes_the_support_threshold_and_strangers_do_not(
    encoder,
):
    query = encoder.encode_query("We need a heat treatment partner for forged steel gears.")
    translation, *strangers = encoder.encode_passages(
        [
            "Chúng tôi cung cấp dịch vụ nhiệt luyện cho bánh răng thép rèn.",
            "Chúng tôi thiết kế bao bì cho các nhà sản xuất cà phê địa phương.",
            "Chúng tôi tổ chức tour du lịch homestay ở Sa Pa.",
            "Chúng tôi bán quần áo trẻ em trực tuyến.",
            "Chúng tôi phát triển phần mềm kế toán cho cửa hàng nhỏ.",
            "Chúng tôi nuôi tôm thẻ chân trắng ở Cà Mau.",
        ]
    )

    on_minilms_scale = to_minilm_scale(np.asarray(strangers) @ query, "en", "vi")
    translated = to_minilm_scale(float(query @ translation), "en", "vi")
    assert translated > SUPPORT_THRESHOLD
    assert np.median(on_minilms_scale) < SUPPORT_THRESHOLD
    assert translated > on_minilms_scale.max() + 0.3


def test_each_pair_of_languages_has_its_own_map_and_unfitted_ones_fall_back_to_the_pooled():
    calibration = get_calibration()

    # An English query meets Vietnamese text lower on this model's scale than Spanish text.
    assert to_minilm_scale(0.80, "en", "vi") > to_minilm_scale(0.80, "en", "es")
    assert np.array_equal(calibration.knots("ja", "ko")[0], calibration.knots("fr", "de")[0])
    assert np.array_equal(calibration.knots("ja", "ja")[0], calibration.knots("ko", "ko")[0])
    assert not np.array_equal(calibration.knots("ja", "ko")[0], calibration.knots("ja", "ja")[0])


def test_calibration_file_is_for_the_model_the_engine_loads():
    document = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))

    assert document["model_id"] == MODEL_ID
    for knots in document["maps"].values():
        assert np.all(np.diff(knots["cosine"]) >= 0) and np.all(np.diff(knots["minilm"]) >= 0)
