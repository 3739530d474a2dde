"""15.6: uploader strings with XML-invalid characters cannot block their own
report; validated against the real cyber_tipline.xsd."""

from __future__ import annotations

import pytest

from report_support import maximal_incident, reporter
from tripline.report import build_report
from tripline.report.cybertipline import build_file_details
from tripline.report.xmlsafe import xml_clean, xml_text
from tripline.report.xsd import schema_errors

HOSTILE = [
    "a\x0bb",
    "\x00nul",
    "esc\x1b[31m",
    "\ud800lone",
    "\ufffe\uffff",
    "bell\x07",
    "form\x0cfeed",
    "<![CDATA[x]]>",
    "]]>",
    "&amp;&#11;",
    "ok \t\n\r tab",
]


@pytest.mark.parametrize("s", HOSTILE)
def test_report_with_hostile_strings_validates(s):
    inc = maximal_incident(
        file_name="up" + s + ".png",
        original_file_name=s,
        urls=[f"https://example.org/{s}"],
        additional_info="caption: " + s,
        location_url=f"https://example.org/p?{s}",
    )
    xml = build_report(inc, reporter())
    assert schema_errors(xml) == []
    details = build_file_details(inc, 1, "f1")
    assert schema_errors(details) == []


def test_cleaning_keeps_valid_text():
    assert xml_text("ok \t\n\r é 😀") == "ok \t\n\r é 😀"
    assert xml_clean({"caption": "a\x0bb", "links": ["x\x00"], "n": 3}) == {
        "caption": "a\ufffdb",
        "links": ["x\ufffd"],
        "n": 3,
    }


def test_intake_cleans_context_and_file_name(tmp_path, db_url):
    from service_support import make_env, photo_bytes

    env = make_env(db_url, tmp_path)
    try:
        assert env.svc.clean_context({"caption": "hi\x0bthere", "links": ["https://e.org/\x01"]}) == {
            "caption": "hi\ufffdthere",
            "links": ["https://e.org/\ufffd"],
        }
        out = env.svc.scan(photo_bytes(0), name="bad\x0bname.jpg", context=None, actor="key:test")
        assert out["error"] is None
    finally:
        env.svc.close()
