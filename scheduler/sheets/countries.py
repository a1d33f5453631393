"""Country names as people type them → ISO 3166-1 alpha-2 codes.

CLDR's English and Thai names (from babel) are accepted, plus the aliases below for what CLDR
names otherwise ("Türkiye", "South Korea", "Myanmar (Burma)") or only in full.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

from scheduler.registry.validate import country_codes
from scheduler.sheets.cells import INVISIBLE, safe_text

# Keys are compared folded (see _fold).
COUNTRY_ALIASES = {
    "turkey": "TR", "turkiye": "TR", "republic of turkey": "TR",
    "korea": "KR", "republic of korea": "KR", "korea, republic of": "KR", "korea (south)": "KR",
    "rok": "KR", "s. korea": "KR", "dprk": "KP", "korea (north)": "KP",
    "burma": "MM", "myanmar": "MM", "republic of the union of myanmar": "MM",
    "vietnam": "VN", "viet nam": "VN", "laos": "LA", "lao pdr": "LA", "lao": "LA",
    "lao people's democratic republic": "LA",
    "china": "CN", "prc": "CN", "p.r. china": "CN", "people's republic of china": "CN",
    "mainland china": "CN", "japan": "JP", "indonesia": "ID",
    "usa": "US", "u.s.a.": "US", "united states of america": "US", "america": "US",
    "uk": "GB", "u.k.": "GB", "great britain": "GB", "britain": "GB",
    "russian federation": "RU", "hong kong": "HK", "macau": "MO", "macao": "MO",
    "czech republic": "CZ", "ivory coast": "CI", "east timor": "TL", "swaziland": "SZ",
    "macedonia": "MK", "holland": "NL", "brunei darussalam": "BN", "cabo verde": "CV",
    "holy see": "VA", "uae": "AE", "islamic republic of iran": "IR",
    "iran, islamic republic of": "IR", "syrian arab republic": "SY",
    "เกาหลี": "KR", "สาธารณรัฐเกาหลี": "KR", "พม่า": "MM", "เมียนมาร์": "MM", "เมียนมา": "MM",
    "สาธารณรัฐประชาชนจีน": "CN", "ทูร์เคีย": "TR", "ตุรเคีย": "TR", "สปป. ลาว": "LA",
    "สปป.ลาว": "LA", "สหรัฐ": "US", "อเมริกา": "US", "อังกฤษ": "GB",
}

_SPACES = re.compile(r"\s+")
_CODE_SUFFIX = re.compile(r".*\(([A-Za-z]{2})\)")  # the template drop-down's "Japan (JP)"


def _fold(text: str) -> str:
    """A country name as looked up: case, spacing, a leading "the" and Latin accents ignored."""
    text = unicodedata.normalize("NFC", text).replace("’", "'").translate(INVISIBLE)
    text = _SPACES.sub(" ", text).strip().casefold().removeprefix("the ")
    plain = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                    if not unicodedata.combining(ch))
    return plain if plain.isascii() else text


@cache
def _country_lookup() -> dict[str, str]:
    from babel import Locale  # babel's locale data is slow to load: only when a name is read

    codes = country_codes()
    lookup: dict[str, str] = {}
    for language in ("en", "th"):
        for code, name in Locale(language).territories.items():
            if code in codes:
                lookup.setdefault(_fold(name), code)
                lookup.setdefault(_fold(name.split(" (")[0]), code)  # "Myanmar (Burma)"
    lookup.update({_fold(alias): code for alias, code in COUNTRY_ALIASES.items()})
    return lookup


def parse_country(value: Any) -> str:
    """An ISO 3166-1 alpha-2 code ("JP") from a cell holding a code, an English (or Thai)
    name, or the drop-down's "Japan (JP)". ValueError when it names no country."""
    text = safe_text(value)
    suffix = _CODE_SUFFIX.fullmatch(text)
    candidate = (suffix.group(1) if suffix else text).upper()
    if len(candidate) == 2 and candidate in country_codes():
        return candidate
    code = _country_lookup().get(_fold(text))
    if code is None:
        raise ValueError(f'"{text}" is not a country (give an ISO code such as JP, or an '
                         "English name such as Japan)")
    return code


def country_choices() -> list[tuple[str, str, str]]:
    """(code, English name, Thai name) for every country, sorted by English name."""
    from babel import Locale  # see _country_lookup

    en, th = Locale("en").territories, Locale("th").territories
    rows = [(code, str(en[code]), str(th.get(code, ""))) for code in country_codes()
            if code in en]
    return sorted(rows, key=lambda r: _fold(r[1]))
