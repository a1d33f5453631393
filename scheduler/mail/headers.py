"""Header fields encoded and folded here, not by the email package (SPEC "Emails" → "Headers").

Every non-ASCII header is written as RFC 2047 encoded-words of at most 75 characters
(§2), lines of at most 78 octets (RFC 5322 §2.1.1) folded with CRLF SP between words, and
decodes to exactly the planned text. Python 3.11's folder does not: it puts the spaces of a
subject between encoded-words, where RFC 2047 §6.2 tells the reader to ignore them ("15 พ.ย."
arrives as "15พ.ย."), and writes words of 76–77 characters.

So the text is cut into encoded-words at character boundaries (never inside a UTF-8
sequence, nor before a combining mark), every space inside a word, and the words are joined
by folding whitespace alone, which decoders drop. The finished field is handed to the
message as a :class:`PreparedHeader`: the policy folds an object that has ``name`` and
``fold`` by calling its ``fold``, so it is written exactly as prepared.

A display name that needs more than one encoded-word decodes exactly in RFC 2047 readers,
but Python's own address parser (before the fix of CPython gh-128110) puts a space between
adjacent encoded-words in a phrase; names of up to 15 Thai letters (45 UTF-8 octets) take one
word.
"""

from __future__ import annotations

import base64
import unicodedata
from email.headerregistry import Address
from email.policy import Policy

# RFC 2047 §2: an encoded-word is at most 75 characters; RFC 5322 §2.1.1: a line at most 78.
MAX_WORD = 75
MAX_LINE = 78
CHARSET = "utf-8"
_OVERHEAD = len(f"=?{CHARSET}?b??=")

# RFC 2047 §5 (3): the characters a "Q" encoded-word may carry as they are in any header,
# a phrase included. Everything else is =XX, and a space is "_".
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


class PreparedHeader(str):
    """A header value that reads as `text` (``str(header)``) and is written as the folded
    lines prepared for it: the email policy calls :meth:`fold` for any value with ``name``
    and ``fold``, and leaves it alone otherwise (`email.policy.EmailPolicy._fold`)."""

    name: str
    lines: tuple[str, ...]

    def __new__(cls, name: str, text: str, lines: tuple[str, ...]) -> PreparedHeader:
        header = super().__new__(cls, text)
        header.name = name
        header.lines = lines
        return header

    def fold(self, *, policy: Policy) -> str:
        """``Name: line1 CRLF SP line2 … CRLF`` with the policy's line separator."""
        return f"{self.name}: " + (policy.linesep).join(self.lines) + policy.linesep


# Combining marks (Thai vowels above and below and tone marks among them) stay with their base.
_MARKS = frozenset({"Mn", "Mc", "Me"})


def _q_octet(octet: int) -> str:
    if octet in _Q_SAFE:
        return chr(octet)
    if octet == 0x20:
        return "_"
    return f"={octet:02X}"


def _q_length(octets: bytes) -> int:
    return sum(1 if o in _Q_SAFE or o == 0x20 else 3 for o in octets)


def _b_length(octets: int) -> int:
    return 4 * -(-octets // 3)


def _encode_word(chunk: str, encoding: str) -> str:
    octets = chunk.encode(CHARSET)
    if encoding == "b":
        text = base64.b64encode(octets).decode("ascii")
    else:
        text = "".join(_q_octet(o) for o in octets)
    return f"=?{CHARSET}?{encoding}?{text}?="


def _cut(text: str, limits: list[int], encoding: str) -> list[str]:
    """`text` cut greedily into chunks whose encoded-words fit the limits (the first word's
    limit first, then the others'); a cut never falls before a combining mark, unless a
    word would otherwise hold nothing."""
    chunks: list[str] = []
    start = 0
    while start < len(text):
        limit = (limits[0] if not chunks else limits[1]) - _OVERHEAD
        end, octets, q_length = start, 0, 0
        while end < len(text):
            encoded = text[end].encode(CHARSET)
            grown = (_b_length(octets + len(encoded)) if encoding == "b"
                     else q_length + _q_length(encoded))
            if grown > limit:
                break
            octets += len(encoded)
            q_length += _q_length(encoded)
            end += 1
        if end == start:
            raise ValueError(f"an encoded-word of {limit + _OVERHEAD} characters holds nothing")
        back = end
        while start < back < len(text) and unicodedata.category(text[back]) in _MARKS:
            back -= 1
        chunks.append(text[start:(back if back > start else end)])
        start = back if back > start else end
    return chunks


def encoded_words(text: str, first: int = MAX_WORD, *, phrase: bool = False) -> list[str]:
    """`text` as RFC 2047 encoded-words (UTF-8) whose decoded texts concatenate to `text`:
    the first at most `first` characters, the others at most 75. "B" or "Q", whichever is
    shorter for `text` ("B" always in a `phrase`, a display name, where "Q" is more
    restricted).

    Raises ValueError for an empty `text` or a `first` too short for one character."""
    if not text:
        raise ValueError("nothing to encode")
    octets = text.encode(CHARSET)
    encoding = "b" if phrase or _b_length(len(octets)) < _q_length(octets) else "q"
    return [_encode_word(chunk, encoding)
            for chunk in _cut(text, [min(first, MAX_WORD), MAX_WORD], encoding)]


def _fold(name: str, tokens: list[str]) -> tuple[str, ...]:
    """Tokens packed into lines of at most 78 octets (``Name: `` counted on the first),
    separated by one space or by a fold (CRLF SP); a token longer than a line gets a line
    of its own. The first line is returned without ``Name: ``."""
    lines: list[str] = []
    line = f"{name}:"
    for token in tokens:
        if line == f"{name}:" or len(line) + 1 + len(token) <= MAX_LINE:
            line += " " + token
        else:
            lines.append(line)
            line = " " + token
    lines.append(line)
    lines[0] = lines[0][len(name) + 2 :]
    return tuple(lines)


def _plain_fits(name: str, text: str) -> bool:
    # Plain text folds at its spaces and unfolds to itself when it is single-spaced, is not
    # mistaken for an encoded-word, and no word needs more than a line.
    return (
        text.isascii()
        and text.isprintable()
        and "=?" not in text
        and " ".join(text.split()) == text
        and all(len(word) + 1 <= MAX_LINE for word in text.split())
        and len(name) + 2 + len(text.split(" ", 1)[0]) <= MAX_LINE
    )


def unstructured(name: str, text: str) -> PreparedHeader:
    """The field `name` (Subject) carrying `text` exactly: as it is, folded at its spaces,
    when it is plain single-spaced ASCII; otherwise as encoded-words (RFC 2047 §5 (1)).

    An empty `text` gives an empty field."""
    if not text or _plain_fits(name, text):
        return PreparedHeader(name, text, _fold(name, text.split(" ")))
    words = encoded_words(text, MAX_LINE - len(name) - 2)
    return PreparedHeader(name, text, _fold(name, words))


def address(name: str, display_name: str, addr_spec: str) -> PreparedHeader | Address:
    """The field `name` (From, To, Reply-To) for one mailbox. A non-ASCII display name is
    written as encoded-words (RFC 2047 §5 (3)) before ``<addr_spec>``; an ASCII one, or an
    address that is not ASCII, is left to the email package (`Address`), which quotes it."""
    mailbox = Address(display_name, addr_spec=addr_spec)
    if display_name.isascii() or not addr_spec.isascii():
        return mailbox
    words = encoded_words(display_name, MAX_LINE - len(name) - 2, phrase=True)
    return PreparedHeader(name, str(mailbox), _fold(name, [*words, f"<{addr_spec}>"]))
