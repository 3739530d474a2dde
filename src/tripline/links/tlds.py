"""Top-level domains that a bare (scheme-less) domain in free text may end in.

A bundled snapshot, never downloaded: every two-letter country code plus the
generic TLDs seen in practice. A scheme-prefixed URL ("https://...") is
extracted whatever its TLD; this list only decides whether "word.word" in
prose is a domain.
"""

from __future__ import annotations

_CC = """
ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo bq br bs bt bw by bz
ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg er es et eu fi fj fk fm
fo fr ga gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it
je jm jo jp ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn
mo mp mq mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps
pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr ss st su sv sx sy sz tc td tf tg th tj
tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw
"""

_GENERIC = """
com net org info biz edu gov mil int name pro mobi asia tel travel jobs cat
xyz top site online shop store club app dev page link live life world today email zone vip win blog art fun
space tech website cloud one bio social media agency studio design gallery photo photos pics pictures video
tube stream chat group community network digital money pay cash tips fan fans gold plus click download
host server systems solutions services support center company business market trade deals sale best
lol wtf fyi wiki ink icu cyou buzz rocks ninja guru party dating love adult xxx cam webcam
"""

TLDS: frozenset[str] = frozenset((_CC + _GENERIC).split())

# TLDs that are also everyday English words: "see you. me too" is not a
# domain. When a dot is only implied by spacing, these do not count.
WORDLIKE: frozenset[str] = frozenset(
    [
        "me",
        "to",
        "in",
        "it",
        "is",
        "at",
        "be",
        "us",
        "so",
        "no",
        "do",
        "go",
        "my",
        "am",
        "as",
        "by",
        "an",
        "or",
        "on",
        "of",
        "if",
        "he",
        "we",
        "hi",
        "ok",
        "id",
        "one",
        "live",
        "life",
        "world",
        "today",
        "fun",
        "best",
        "love",
        "pay",
        "cash",
        "tips",
        "plus",
        "click",
        "sale",
        "deals",
        "art",
    ]
)
