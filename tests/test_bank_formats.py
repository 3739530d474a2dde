import io

import hypothesis.strategies as st
import pytest
from hypothesis import given

from tripline.banks import FormatError, ParseReport, parse, write

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "d35c785545392755e7e4164457657269"
SHA = "a" * 64


def _parse(text, fmt, **kw):
    report = ParseReport()
    # Iterate like an opened text file does (universal newlines only).
    return list(parse(io.StringIO(text), fmt, report, **kw)), report


def test_csv_with_and_without_header_and_notes():
    rows, report = _parse(f"signal_type,signal,note\npdq,{PDQ},case 1\nMD5,{MD5.upper()}\n", "csv")
    assert rows == [("pdq", PDQ, "case 1"), ("md5", MD5, None)]
    rows, _ = _parse(f"pdq,{PDQ}\n", "csv")
    assert rows == [("pdq", PDQ, None)]
    assert not report.bad_lines


def test_threatexchange_dataset_csv_export():
    text = f"signal_type,signal_str,collab,category,tags\npdq,{PDQ},Sample Collab,POSITIVE_CLASS,tag1 tag2\n"
    rows, _ = _parse(text, "csv")
    assert rows == [("pdq", PDQ, "Sample Collab POSITIVE_CLASS tag1 tag2")]


def test_threatexchange_signal_file():
    rows, report = _parse(f"pdq {PDQ}\nvideo_md5 {MD5}\nurl http://example.com\n# comment\n", "tx")
    assert rows == [("pdq", PDQ, None), ("md5", MD5, None)]
    assert report.unsupported == {"url": 1}


def test_plain_lists_tell_md5_from_sha256_and_need_a_type_for_pdq():
    rows, _ = _parse(f"{MD5}\n{SHA}\n", "list")
    assert rows == [("md5", MD5, None), ("sha256", SHA, None)]
    rows, _ = _parse(f"{PDQ}\n", "list", signal_type="pdq")
    assert rows == [("pdq", PDQ, None)]


def test_bad_lines_are_reported_with_line_numbers():
    rows, report = _parse(f"pdq,{PDQ}\npdq,xyz\nmd5,{PDQ}\n", "csv")
    assert rows == [("pdq", PDQ, None)]
    assert [n for n, _ in report.bad_lines] == [2, 3]
    assert "expected 64 hex digits" in report.bad_lines[0][1]


def test_unknown_format_and_type():
    with pytest.raises(FormatError):
        _parse("", "xml")
    with pytest.raises(FormatError):
        _parse("", "csv", signal_type="photodna")


hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
entries = st.lists(
    st.tuples(
        st.sampled_from(["pdq", "sha256"]),
        hexes,
        st.one_of(
            st.none(),
            st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1).filter(
                lambda s: s.strip() == s and s
            ),
        ),
    ),
    max_size=20,
)


@given(entries)
def test_csv_export_import_round_trip(items):
    text = "".join(write(items, "csv"))
    rows, report = _parse(text, "csv")
    assert rows == [(t, v, n) for t, v, n in items]
    assert not report.bad_lines
