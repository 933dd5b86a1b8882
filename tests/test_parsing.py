import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.errors import InputError
from handlers.numerals import HALF_ONLY, NEGATIVE, NOT_A_NUMBER, NOTE_APART, TOO_BIG, WHOLE_ONLY
from handlers.parsing import (
    Item,
    SentenceResult,
    match_item,
    normalise,
    parse_answer,
    parse_number,
    parse_sentence,
)

CAMPAIGN = Path(__file__).resolve().parents[1] / "campaigns" / "luoyang-2013.toml"


def load_items() -> list[Item]:
    data = tomllib.loads(CAMPAIGN.read_text(encoding="utf-8"))
    return [Item(a["key"], a["name"], "activity", tuple(a.get("aliases", []))) for a in data["activities"]] + [
        Item(c["key"], c["name"], "category", tuple(c.get("aliases", []))) for c in data["categories"]
    ]


ITEMS = load_items()
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def to_chinese(n: int) -> str:
    if n == 0:
        return "零"
    parts, zero_pending = [], False
    for unit, word in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // unit % 10
        if digit == 0:
            zero_pending = bool(parts)
            continue
        if zero_pending:
            parts.append("零")
            zero_pending = False
        parts.append("零一二三四五六七八九"[digit] + word)
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text


def values(result: SentenceResult) -> dict[str, int | float]:
    return {found.key: found.value for found in result.found}


def keys(candidates: list[Item]) -> list[str]:
    return [item.key for item in candidates]


# --- normalise ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("１２", "12"),
        ("党委会，６次！", "党委会,6次!"),
        ("\u3000 党委会\n\n6\t次  ", "党委会 6 次"),
        ("ＡＢＣ", "ABC"),
        ("专职副书记列席党组（委）会", "专职副书记列席党组(委)会"),
        ("党委\u200b会", "党委会"),
    ],
)
def test_normalise_folds_width_and_spaces(text, expected):
    assert normalise(text) == expected


# --- parse_number ------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("6", 6),
        ("0", 0),
        ("007", 7),
        ("两", 2),
        ("十", 10),
        ("十二", 12),
        ("二十四", 24),
        ("廿四", 24),
        ("一百二十", 120),
        ("一百二", 120),
        ("一百零五", 105),
        ("一千零五十", 1050),
        ("三千五", 3500),
        ("二〇一三", 2013),
        ("零", 0),
        ("１２", 12),
        ("6次", 6),
        ("6 次", 6),
        ("两个", 2),
        (" 6 ", 6),
        ("\u30006\u3000", 6),
        ("三十分", 30),
        ("4场", 4),
        ("١٢", 12),
    ],
)
def test_parse_number_reads_whole_numbers(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("115.5", 115.5),
        ("115．5", 115.5),
        ("１１５．５", 115.5),
        ("112.5分", 112.5),
        ("十二点五", 12.5),
        ("12个半", 12.5),
        ("一个半", 1.5),
        ("0.5", 0.5),
    ],
)
def test_parse_number_reads_halves_when_allowed(text, expected):
    assert parse_number(text, allow_half=True) == expected


@pytest.mark.parametrize("text", ["12.0", "12.00", "十二点零"])
def test_parse_number_returns_int_for_a_zero_fraction(text):
    assert type(parse_number(text, allow_half=True)) is int


def test_parse_number_returns_float_for_a_half():
    assert type(parse_number("12.5", allow_half=True)) is float


@pytest.mark.parametrize(
    "text, allow_half, reason",
    [
        ("abc", False, NOT_A_NUMBER),
        ("", False, NOT_A_NUMBER),
        ("   ", False, NOT_A_NUMBER),
        ("1e5", False, NOT_A_NUMBER),
        ("∞", False, NOT_A_NUMBER),
        ("十十", False, NOT_A_NUMBER),
        ("百", False, NOT_A_NUMBER),
        ("二二十", False, NOT_A_NUMBER),
        ("6abc", False, NOT_A_NUMBER),
        ("次", False, NOT_A_NUMBER),
        ("半", True, NOT_A_NUMBER),
        ("-3", False, NEGATIVE),
        ("负三", False, NEGATIVE),
        ("－3", False, NEGATIVE),
        ("−3", False, NEGATIVE),
        ("-2.5", True, NEGATIVE),
        ("６.７", False, WHOLE_ONLY),
        ("12.5", False, WHOLE_ONLY),
        ("12个半", False, WHOLE_ONLY),
        ("6.7", True, HALF_ONLY),
        ("12.25", True, HALF_ONLY),
        ("十二点三", True, HALF_ONLY),
        ("12.5个半", True, HALF_ONLY),
        ("1234567", False, TOO_BIG),
        ("1" * 5000, False, TOO_BIG),
        ("一" * 5000, False, TOO_BIG),
    ],
)
def test_parse_number_rejects_with_a_reason(text, allow_half, reason):
    with pytest.raises(InputError) as raised:
        parse_number(text, allow_half=allow_half)
    assert raised.value.reason == reason


@given(st.text())
def test_parse_number_raises_only_input_error(text):
    try:
        value = parse_number(text, allow_half=True)
    except InputError:
        return
    assert isinstance(value, (int, float)) and value >= 0


@given(st.integers(0, 9999))
def test_arabic_numbers_round_trip(n):
    assert parse_number(str(n)) == n


@given(st.integers(0, 9999))
def test_full_width_numbers_round_trip(n):
    assert parse_number(str(n).translate(FULL_WIDTH)) == n


@given(st.integers(0, 9999))
def test_chinese_numerals_round_trip(n):
    assert parse_number(to_chinese(n)) == n


def test_every_chinese_numeral_below_ten_thousand_round_trips():
    wrong = [n for n in range(10_000) if parse_number(to_chinese(n)) != n]
    assert wrong == []


# --- parse_answer ------------------------------------------------------------


@pytest.mark.parametrize(
    "text, allow_half, expected",
    [
        ("115 组织生活会记录不全扣5分", False, (115, "组织生活会记录不全扣5分")),
        ("6次", False, (6, None)),
        ("６", False, (6, None)),
        ("6，", False, (6, None)),
        ("二十四次，其中两次线上", False, (24, "其中两次线上")),
        ("6次其中两次线上", False, (6, "其中两次线上")),
        ("１２　备注", False, (12, "备注")),
        ("112.5分 备注", True, (112.5, "备注")),
        ("115 分 记录不全", False, (115, "记录不全")),
        ("12个半 备注", True, (12.5, "备注")),
    ],
)
def test_parse_answer_splits_number_and_note(text, allow_half, expected):
    assert parse_answer(text, allow_half=allow_half) == expected


def test_parse_answer_keeps_the_note_as_typed():
    assert parse_answer("6 其中２次线上")[1] == "其中２次线上"


@pytest.mark.parametrize(
    "text, allow_half, reason",
    [
        ("", False, NOT_A_NUMBER),
        ("备注 6", False, NOT_A_NUMBER),
        ("组织建设 170", False, NOT_A_NUMBER),
        ("115组织生活会", False, NOTE_APART),
        ("6.5 备注", False, WHOLE_ONLY),
        ("6.7 备注", True, HALF_ONLY),
        ("-3 备注", False, NEGATIVE),
    ],
)
def test_parse_answer_rejects_with_a_reason(text, allow_half, reason):
    with pytest.raises(InputError) as raised:
        parse_answer(text, allow_half=allow_half)
    assert raised.value.reason == reason


@given(st.text())
def test_parse_answer_raises_only_input_error(text):
    try:
        value, note = parse_answer(text, allow_half=True)
    except InputError:
        return
    assert isinstance(value, (int, float)) and (note is None or note.strip() == note != "")


# --- match_item --------------------------------------------------------------


@pytest.mark.parametrize(
    "fragment, expected",
    [
        ("党委会", ["dangweihui"]),
        ("党小组会", ["dangxiaozuhui"]),
        ("学习", ["zhengzhi_xuexi"]),
        ("政治 学习", ["zhengzhi_xuexi"]),
        ("党课", ["lingdao_shang_dangke"]),
        ("主要领导上党课", ["zhuyao_lingdao_shang_dangke"]),
        ("其中主要领导上党课", ["zhuyao_lingdao_shang_dangke"]),
        ("专职副书记列席党组(委)会", ["zhuanzhi_fushuji_liexi"]),
        ("组织建设", ["organisation"]),
        ("三、组织建设", ["organisation"]),
        ("(三)组织建设", ["organisation"]),
        ("创先争优", ["excellence"]),
        ("六加一综合", ["excellence"]),
        ("七、创先争优与六加一综合", ["excellence"]),
        ("党内民主、党务公开", ["democracy"]),
        ("党务公开", ["democracy"]),
        ("ＡＢ", []),
        ("会议", []),
        ("天气", []),
        ("会", []),
        ("", []),
        ("其中", []),
    ],
)
def test_match_item_finds_the_one_item(fragment, expected):
    assert keys(match_item(fragment, ITEMS)) == expected


@pytest.mark.parametrize(
    "fragment, expected",
    [
        (
            "领导",
            {
                "lingdao_shang_dangke",
                "zhuyao_lingdao_shang_dangke",
                "xingzheng_lingdao_tongbao",
                "zhuyao_lingdao_canjia_zuzhi_huodong",
                "leadership",
            },
        ),
        ("建设", {"ideology", "organisation", "conduct", "integrity"}),
        ("党小组", {"dangxiaozuhui", "dangxiaozu_minzhushenghuohui"}),
    ],
)
def test_match_item_lists_every_candidate_when_ambiguous(fragment, expected):
    assert set(keys(match_item(fragment, ITEMS))) == expected


def test_match_item_lists_sub_items_last_when_ambiguous():
    assert keys(match_item("领导", ITEMS))[-1] == "zhuyao_lingdao_shang_dangke"


def test_alias_beats_a_derived_short_form():
    items = [Item("total", "领导上党课", "activity"), Item("of_which", "其中主要领导上党课", "activity", ("党课",))]
    assert keys(match_item("党课", items)) == ["of_which"]


def test_exact_name_beats_an_alias():
    items = [Item("study", "政治学习", "activity"), Item("sport", "文体活动", "activity", ("政治学习",))]
    assert keys(match_item("政治学习", items)) == ["study"]


def test_equal_aliases_are_ambiguous():
    items = [Item("a", "甲会", "activity", ("开会",)), Item("b", "乙会", "activity", ("开会",))]
    assert keys(match_item("开会", items)) == ["a", "b"]


# --- parse_sentence ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("党委会6次，政治学习二十四次，党小组会１２", {"dangweihui": 6, "zhengzhi_xuexi": 24, "dangxiaozuhui": 12}),
        ("组织建设 170 分", {"organisation": 170}),
        ("学习 20", {"zhengzhi_xuexi": 20}),
        ("党课 3", {"lingdao_shang_dangke": 3}),
        ("主要领导上党课 2", {"zhuyao_lingdao_shang_dangke": 2}),
        ("思想建设145，作风建设 140.5分", {"ideology": 145, "conduct": 140.5}),
        ("创先争优 190", {"excellence": 190}),
        ("六加一综合 180", {"excellence": 180}),
        ("三、组织建设 170", {"organisation": 170}),
        ("组织建设170", {"organisation": 170}),
        ("五、党内民主、党务公开 95", {"democracy": 95}),
        ("党内民主、党务公开 95.5", {"democracy": 95.5}),
        ("党委会6次政治学习24次", {"dangweihui": 6, "zhengzhi_xuexi": 24}),
        ("党委会：6；支委会=8。党员大会 4！", {"dangweihui": 6, "zhiweihui": 8, "dangyuandahui": 4}),
        ("党委会开了六次", {"dangweihui": 6}),
        ("组织建设自评170分", {"organisation": 170}),
        ("党委会 6\n政治学习\u300024", {"dangweihui": 6, "zhengzhi_xuexi": 24}),
        ("领导上党课4次、其中主要领导上党课2次", {"lingdao_shang_dangke": 4, "zhuyao_lingdao_shang_dangke": 2}),
        ("党委会6，党委会6", {"dangweihui": 6}),
        ("支委会 一、组织建设 170", {"zhiweihui": 1, "organisation": 170}),
        ("党委会 一、党小组会 12", {"dangweihui": 1, "dangxiaozuhui": 12}),
        ("思想建设 150 （三）组织建设 170", {"ideology": 150, "organisation": 170}),
    ],
)
def test_parse_sentence_finds_values(text, expected):
    assert values(parse_sentence(text, ITEMS)) == expected


@pytest.mark.parametrize(
    "text, key, note",
    [
        ("组织建设 170 分 记录不全扣10分，思想建设 150", "organisation", "记录不全扣10分"),
        ("政治学习二十四次，其中两次线上", "zhengzhi_xuexi", "其中两次线上"),
        ("组织建设 170 记录不全，扣10分，思想建设 150", "organisation", "记录不全，扣10分"),
        ("党委会6次，情况说明见附件", "dangweihui", "情况说明见附件"),
    ],
)
def test_parse_sentence_keeps_a_note_until_the_next_item(text, key, note):
    found = {f.key: f.note for f in parse_sentence(text, ITEMS).found}
    assert found[key] == note


def test_parse_sentence_gives_the_note_to_one_item_only():
    found = parse_sentence("组织建设 170 分 记录不全扣10分，思想建设 150", ITEMS).found
    assert [f.note for f in found] == ["记录不全扣10分", None]


def test_parse_sentence_keeps_fragments_as_typed():
    found = parse_sentence("党委会６次，党小组会１２　", ITEMS).found
    assert [f.fragment for f in found] == ["党委会６次", "党小组会１２"]


@pytest.mark.parametrize(
    "text, unrecognised",
    [
        ("党委会6次 总支会", ["总支会"]),
        ("天气不错", ["天气不错"]),
        ("会议 5", ["会议 5"]),
        ("天气不错，党委会6", ["天气不错"]),
        ("天气不错，天气不错，天气不错", ["天气不错"]),
        ("领导您好！我是财政局的王芳，党委会6", ["我是财政局的王芳"]),
        ("党委会6次，谢谢！谢谢！", []),
        ("党小组会、党员大会都还没统计，组织建设170", ["党小组会", "党员大会都还没统计"]),
        ("党委会会议6次", ["党委会会议6次"]),
        ("七 190", ["七 190"]),
    ],
)
def test_parse_sentence_reports_what_it_did_not_understand(text, unrecognised):
    assert parse_sentence(text, ITEMS).unrecognised == unrecognised


def test_parse_sentence_still_finds_the_rest_beside_an_unrecognised_part():
    assert values(parse_sentence("你好，党委会6", ITEMS)) == {"dangweihui": 6}


PHONE_LETTER = (
    "领导您好！我是财政局的王芳。今年我们党委会开了八次，其中有两次是线上开的，政治学习二十四次。"
    "党小组会大概12次吧，不太确定。谢谢！谢谢！"
)


def test_parse_sentence_reads_items_named_inside_prose():
    assert values(parse_sentence(PHONE_LETTER, ITEMS)) == {"dangweihui": 8, "zhengzhi_xuexi": 24, "dangxiaozuhui": 12}


def test_parse_sentence_ends_a_note_where_the_next_items_clause_begins():
    notes = {f.key: f.note for f in parse_sentence(PHONE_LETTER, ITEMS).found}
    assert notes == {"dangweihui": "其中有两次是线上开的", "zhengzhi_xuexi": None, "dangxiaozuhui": "不太确定"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("党委会6次 我们另外也开了政治学习24次", {"dangweihui": None, "zhengzhi_xuexi": None}),
        ("党委会6次，截止目前政治学习20次", {"dangweihui": None, "zhengzhi_xuexi": None}),
        ("党委会6次我们政治学习24次", {"dangweihui": None, "zhengzhi_xuexi": None}),
        ("党委会6次，其中两次与党小组会合开", {"dangweihui": "其中两次与党小组会合开"}),
    ],
)
def test_parse_sentence_never_swallows_another_item_into_a_note(text, expected):
    assert {f.key: f.note for f in parse_sentence(text, ITEMS).found} == expected


def test_parse_sentence_reads_an_item_with_a_note_after_a_lead_in():
    [found] = parse_sentence("今年党委会八次，其中有两次是线上开的", ITEMS).found
    assert (found.key, found.value, found.note) == ("dangweihui", 8, "其中有两次是线上开的")


def test_parse_sentence_lists_the_unread_parts_of_a_letter_once_without_greetings():
    assert parse_sentence(PHONE_LETTER, ITEMS).unrecognised == ["我是财政局的王芳"]


def test_a_name_inside_a_clause_without_a_number_is_no_item():
    assert values(parse_sentence("党委会6次，这和党小组会不一样", ITEMS)) == {"dangweihui": 6}


@pytest.mark.parametrize(
    "text, fragment, candidates",
    [
        (
            "领导 3",
            "领导 3",
            {
                "lingdao_shang_dangke",
                "zhuyao_lingdao_shang_dangke",
                "xingzheng_lingdao_tongbao",
                "zhuyao_lingdao_canjia_zuzhi_huodong",
                "leadership",
            },
        ),
        ("党委会6，党小组 3", "党小组 3", {"dangxiaozuhui", "dangxiaozu_minzhushenghuohui"}),
        ("建设 100", "建设 100", {"ideology", "organisation", "conduct", "integrity"}),
    ],
)
def test_parse_sentence_reports_ambiguous_names_with_candidates(text, fragment, candidates):
    [(got_fragment, got_candidates)] = parse_sentence(text, ITEMS).ambiguous
    assert (got_fragment, set(got_candidates)) == (fragment, candidates)


@pytest.mark.parametrize(
    "text, error",
    [
        ("党委会 6.5", ("党委会 6.5", WHOLE_ONLY)),
        ("作风建设 140.3", ("作风建设 140.3", HALF_ONLY)),
        ("党委会-3", ("党委会-3", NEGATIVE)),
        ("党委会 负三次", ("党委会 负三次", NEGATIVE)),
    ],
)
def test_parse_sentence_reports_bad_numbers_after_known_names(text, error):
    assert parse_sentence(text, ITEMS).errors == [error]


def test_parse_sentence_keeps_good_items_beside_a_bad_number():
    assert values(parse_sentence("党委会 6.5，政治学习 24", ITEMS)) == {"zhengzhi_xuexi": 24}


def test_parse_sentence_reports_one_item_with_two_different_values():
    result = parse_sentence("党委会6，政治学习24，党委会7", ITEMS)
    assert result.errors == [("党委会7", "党委会写了两次（6 和 7），请只写一次")]


def test_parse_sentence_keeps_neither_of_two_different_values():
    assert values(parse_sentence("党委会6，政治学习24，党委会7", ITEMS)) == {"zhengzhi_xuexi": 24}


def test_parse_sentence_reports_a_third_value_too():
    assert len(parse_sentence("党委会6，党委会7，党委会8", ITEMS).errors) == 2


def test_parse_sentence_of_nothing_finds_nothing():
    assert parse_sentence(" ，。 ", ITEMS) == SentenceResult([], [], [], [])


SEPARATOR = st.sampled_from(["，", ",", "、", "；", ";", "。", " ", "！", "!", "\n", "\u3000"])


@st.composite
def sentences(draw):
    chosen = draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=8, unique_by=lambda item: item.key))
    expected, parts = {}, []
    for item in chosen:
        value = draw(st.integers(0, 300))
        if item.kind == "category" and draw(st.booleans()):
            value += 0.5
        spelled = (
            str(value)
            if isinstance(value, float)
            else draw(st.sampled_from([str(value), str(value).translate(FULL_WIDTH), to_chinese(value)]))
        )
        name = draw(st.sampled_from([item.name, item.name.split("、", 1)[-1]]))
        parts.append(
            name
            + draw(st.sampled_from(["", " ", "："]))
            + spelled
            + draw(st.sampled_from(["", "次", "分", " 记录不全", "次其中两次线上"]))
        )
        expected[item.key] = value
    return "".join(part + draw(SEPARATOR) for part in parts), expected


@given(sentences())
def test_parse_sentence_reads_back_what_was_written(case):
    text, expected = case
    assert values(parse_sentence(text, ITEMS)) == expected


@given(st.text())
def test_parse_sentence_never_raises(text):
    result = parse_sentence(text, ITEMS)
    fragments = (
        [f.fragment for f in result.found]
        + [frag for frag, _ in result.ambiguous]
        + result.unrecognised
        + [frag for frag, _ in result.errors]
    )
    assert all(fragment in text for fragment in fragments)


@given(
    st.lists(
        st.sampled_from([item.name for item in ITEMS] + ["6", "十二", "，", " ", "、", "。", "点", "半", "-"])
    ).map("".join)
)
def test_parse_sentence_never_raises_on_names_and_numbers(text):
    result = parse_sentence(text, ITEMS)
    assert {f.key for f in result.found} <= {item.key for item in ITEMS}
