"""Value detectors for personal data: e-mail addresses, phone numbers, payment cards,
IBANs, IP addresses and US social security numbers.

Each detector takes text values and returns a boolean array, one per value, all
at once (regular expressions through pandas, check digits through numpy). A
column is judged on a sample of its non-missing values (:func:`sample`); it
holds a kind of value when at least :data:`SHARE` of them match (:func:`match`).
Check digits keep look-alikes out: a 16-digit number is a card only when the
Luhn check holds (one in ten random numbers pass it, so 80% of a column never
does by chance), an IBAN only when its mod-97 check gives 1. :func:`by_value`
judges a whole column, near-unique codes (identifiers) included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SAMPLE = 2000  # values looked at per column: enough for a share, cheap on wide tables
SHARE = 0.8  # of sampled values that must match: a column holds that kind of value
UNIQUE_SHARE = 0.95  # distinct values per non-missing row, as the profile's identifier rule
MIN_DISTINCT = 20  # a handful of rows are always "unique"
DENSE = 1.5  # an integer key's range is at most this many times its count of values

EMAIL = r"[\w.!#$%&'*+/=?^`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?" \
        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}"
_EXTENSION = r"(?:\s*(?:x|ext\.?|#)\s*\d{1,5})?"
PHONE = "|".join([
    # international: +44 20 7946 0958, +1 (415) 555-0100, 0049 30 1234567, +4915112345678
    r"(?:\+|00)[1-9]\d{0,3}(?:[ .\-]?\(\d{1,4}\))?(?:[ .\-/]?\d{1,6}){1,6}",
    # North American: (415) 555-0100, 415-555-0100, 415.555.0100, 1-415-555-0100
    r"(?:1[ .\-])?(?:\(\d{3}\)\s?|\d{3}[ .\-])\d{3}[ .\-]\d{4}",
    # national with a trunk 0: 020 7946 0958, 030-12345678, 06 12 34 56 78, (030) 1234567
    r"0\d{1,4}(?:[ .\-/]\d{2,8}){1,4}",
    r"\(0\d{1,4}\)\s?\d{2,8}(?:[ .\-]\d{2,8}){0,3}",
])
PHONE_DIGITS = (8, 15)  # E.164 allows at most 15; national numbers have at least 8
# Dates share the shape of some national numbers (01/02/2020, 05.11.2023).
DATE = r"\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}(?:[ T].*)?"
CARD = r"[1-9][0-9 \-]{11,22}[0-9]"  # 13 to 19 digits, spaces or dashes between groups
IBAN = r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9A-Fa-f]{1,4}"
IPV6 = "|".join([  # the full form and every way of writing '::' for a run of zero groups
    rf"(?:{_H}:){{7}}{_H}",
    rf"(?:{_H}:){{1,7}}:",
    rf"(?:{_H}:){{1,6}}:{_H}",
    rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
    rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
    rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
    rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
    rf"{_H}:(?::{_H}){{1,6}}",
    rf":(?:(?::{_H}){{1,7}}|:)",
    rf"::(?:[Ff]{{4}}:)?{IPV4}",  # an IPv4 address mapped into IPv6
])
# area 001-899 except 666, group 01-99, serial 0001-9999 (the SSA's rules)
SSN = r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}"
# One token of letters, digits and a few joiners: a code, not words or a number.
IDENTIFIER = r"[\w][\w\-:./#@+]{0,63}"
NUMBER = r"[+\-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+\-]?\d+)?"
INTEGER = r"[+\-]?\d+"


def sample(series: pd.Series, n: int = SAMPLE) -> pd.Series:
    """At most ``n`` non-missing values of ``series`` as stripped text, spread over
    the whole column (the same ones every time) so sorted data is seen end to end."""
    values = series.dropna()
    if len(values) > n:
        picked = np.sort(np.random.default_rng(0).choice(len(values), n, replace=False))
        values = values.iloc[picked]
    return values.astype(str).str.strip().reset_index(drop=True)


def emails(values: pd.Series) -> np.ndarray:
    return _full(values, EMAIL)


def phones(values: pd.Series) -> np.ndarray:
    shaped = _full(values, rf"(?:{PHONE}){_EXTENSION}") & ~_full(values, DATE)
    low, high = PHONE_DIGITS
    # an extension adds digits of its own; judge the number without it
    core = values.str.replace(r"\s*(?:x|ext\.?|#)\s*\d{1,5}$", "", regex=True)
    digits = core.str.count(r"\d").to_numpy()
    return shaped & (digits >= low) & (digits <= high)


def cards(values: pd.Series) -> np.ndarray:
    """Payment card numbers: 13 to 19 digits that pass the Luhn check."""
    shaped = _full(values, CARD)
    digits = values.str.replace(r"[ \-]", "", regex=True)
    shaped &= _full(digits, r"[0-9]{13,19}")
    out = np.zeros(len(values), dtype=bool)
    if shaped.any():
        out[shaped] = luhn(digits[shaped])
    return out


def luhn(digits: pd.Series) -> np.ndarray:
    """The Luhn check of strings of digits: from the right, every second digit is
    doubled (less 9 when above 9) and the sum must end in 0. Left zeros add nothing,
    so the strings are padded to one width and checked as a matrix."""
    m = _digit_matrix(digits.str.zfill(int(digits.str.len().max())))
    from_right = m[:, ::-1]
    doubled = from_right[:, 1::2] * 2
    total = from_right[:, ::2].sum(axis=1) + (doubled - 9 * (doubled > 9)).sum(axis=1)
    return total % 10 == 0


def ibans(values: pd.Series) -> np.ndarray:
    """International bank account numbers (spaces allowed) whose mod-97 check holds."""
    compact = values.str.replace(" ", "", regex=False).str.upper()
    shaped = _full(compact, IBAN)
    out = np.zeros(len(values), dtype=bool)
    if shaped.any():
        out[shaped] = mod97(compact[shaped]) == 1
    return out


def mod97(ibans: pd.Series) -> np.ndarray:
    """ISO 13616: the first four characters moved to the end, each letter written as
    two digits (A=10 ... Z=35), the number taken modulo 97; a valid IBAN gives 1."""
    moved = ibans.str[4:] + ibans.str[:4]
    letters = {ord(c): str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    numbers = moved.str.translate(letters)
    m = _digit_matrix(numbers.str.zfill(int(numbers.str.len().max())))
    rest = np.zeros(len(m), dtype=np.int64)
    for column in m.T:  # digit by digit: the number itself has up to ~70 digits
        rest = (rest * 10 + column) % 97
    return rest


def ips(values: pd.Series) -> np.ndarray:
    return _full(values, IPV4) | _full(values, IPV6)


def ssns(values: pd.Series) -> np.ndarray:
    return _full(values, SSN)


def dates(values: pd.Series) -> np.ndarray:
    return _full(values, DATE)


def numbers(values: pd.Series) -> np.ndarray:
    return _full(values, NUMBER)


def integers(values: pd.Series) -> np.ndarray:
    return _full(values, INTEGER)


def identifiers(values: pd.Series) -> np.ndarray:
    """One token of letters, digits and joiners, up to 64 characters: ``7590-VHVEG``,
    a UUID, ``ORD/2024/00017``; not words with spaces."""
    return _full(values, IDENTIFIER)


# Checked in this order: the stricter kinds first (a card number with dashes is not
# a phone number; an SSN is not a date), so a tie goes to the more specific kind.
DETECTORS = {"card": cards, "iban": ibans, "ssn": ssns, "email": emails, "ip": ips,
             "phone": phones}
TITLES = {"card": "payment card numbers (Luhn check)", "iban": "IBANs (mod-97 check)",
          "ssn": "US social security numbers", "email": "e-mail addresses",
          "ip": "IP addresses", "phone": "phone numbers"}


def match(values: pd.Series, kinds=None) -> tuple[str, float] | None:
    """The kind of personal value most of ``values`` (a :func:`sample`) are, with
    the share that are; None when no kind reaches :data:`SHARE`."""
    if values.empty:
        return None
    # Each distinct value once, weighted by its count: categories cost next to nothing.
    counts = values.value_counts()
    weights = counts.to_numpy(dtype=float) / len(values)
    distinct = pd.Series(counts.index, dtype="str")
    # Every kind needs a digit, an '@' or a ':' (IPv6): most text columns stop here.
    if weights[_contains(distinct, r"[0-9@:]")].sum() < SHARE:
        return None
    best = None
    for kind in DETECTORS if kinds is None else kinds:
        share = float(weights[DETECTORS[kind](distinct)].sum())
        if share >= SHARE and (best is None or share > best[1]):
            best = (kind, share)
    return best


def share(values: pd.Series, detector) -> float:
    """The share of ``values`` for which ``detector`` holds."""
    return float(detector(values).mean()) if len(values) else 0.0


def _contains(values: pd.Series, pattern: str) -> np.ndarray:
    return values.str.contains(pattern).fillna(False).to_numpy(dtype=bool, copy=True)


def by_value(series: pd.Series) -> tuple[str, str] | None:
    """``(kind, evidence)`` when the values are personal data or identifiers."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_float_dtype(dtype) or \
            pd.api.types.is_datetime64_any_dtype(dtype) or \
            pd.api.types.is_timedelta64_dtype(dtype):
        return None  # measurements, flags and times are never personal by their values
    integer = pd.api.types.is_integer_dtype(dtype)
    values = sample(series)
    if values.empty:
        return None
    # Plain integers are readings, counts or prices: only a card number has a check
    # digit that sets it apart; a phone number needs its '+' or separators as text.
    found = match(values, ("card",) if integer else None)
    if found:
        kind, part = found
        return kind, f"{part:.0%} of {len(values):,} sampled values are {TITLES[kind]}"
    present = int(series.notna().sum())
    try:
        distinct = int(series.nunique())
    except TypeError:  # lists or dicts in the cells: no code
        return None
    if distinct < MIN_DISTINCT or distinct < UNIQUE_SHARE * present:
        return None
    if integer:
        # counts and amounts can be near-unique too; keys run densely (1, 2, 3...)
        present_values = series.dropna()
        span = int(present_values.max()) - int(present_values.min()) + 1
        if span > DENSE * distinct:
            return None
        return "identifier", (f"{distinct:,} distinct values in {present:,} rows, a dense "
                              "run of whole numbers like keys")
    # codes, not numbers written as text (prices), dates or sentences
    if share(values, numbers) >= SHARE and share(values, integers) < SHARE:
        return None
    if share(values, dates) >= SHARE or share(values, identifiers) < SHARE:
        return None
    return "identifier", (f"{distinct:,} distinct values in {present:,} rows, shaped like "
                          "identifiers")


def _full(values: pd.Series, pattern: str) -> np.ndarray:
    return values.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool, copy=True)


def _digit_matrix(values: pd.Series) -> np.ndarray:
    """Strings of digits of one width as a (rows, width) matrix of small integers."""
    width = int(values.str.len().max())
    raw = np.frombuffer("".join(values.tolist()).encode("ascii"), dtype=np.uint8)
    return raw.reshape(len(values), width).astype(np.int64) - ord("0")
