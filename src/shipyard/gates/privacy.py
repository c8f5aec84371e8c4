"""The privacy gate: personal data and direct identifiers are no features.

:func:`detect` finds such columns by their name (``customer_id``, ``email``,
``date_of_birth``...) and by their values (e-mail addresses, phone numbers,
cards, IBANs, IP addresses, SSNs: see :mod:`shipyard.gates.patterns`; and
near-unique codes). :func:`check` turns what it found into records: a detected
column is left out of the features and of the prediction log unless the
project file allows it with a reason, and naming one in ``features.include``
without allowing it fails the gate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from shipyard.gates import patterns
from shipyard.gates.record import GateResult, judge
from shipyard.spec.gates import PrivacyGate


@dataclass(frozen=True)
class Personal:
    """A column that holds personal data (``personal``) or an identifier that may
    name a thing rather than a person; ``evidence`` says how it was found."""

    column: str
    kind: str
    personal: bool
    evidence: str


@dataclass(frozen=True)
class Rule:
    """A name matches when one of ``phrases`` (lower-case words) ends it, or is
    followed only by words of ``after`` (``phone`` in ``phone_number``); a name
    that is exactly one of ``whole`` matches too. The end of a name says what it
    is: ``phone_service`` is a service, ``email_opt_in`` a choice."""

    kind: str
    personal: bool
    phrases: tuple[tuple[str, ...], ...]
    after: frozenset[str] = frozenset()
    whole: tuple[tuple[str, ...], ...] = ()


def _p(*phrases: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(p.split()) for p in phrases)


def _w(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words after the telling word that do not change what the column holds.
AFTER = _w("number no nr num nbr hash hashed encrypted masked raw clean primary secondary "
           "home work main mobile alt other")
PEOPLE = _w("first last full given family middle maiden fore customer client user patient "
            "employee person member contact owner holder applicant student passenger pilot "
            "driver cardholder beneficiary sender recipient spouse guest buyer seller")
# Checked in order: the first rule that matches names the kind (an e-mail address
# is an e-mail before it is an address).
RULES = (
    Rule("email", True, _p("email", "e mail", "mail"), AFTER | {"address", "addr"}),
    Rule("ip", True, _p("ip", "ipv4", "ipv6"), AFTER | {"address", "addr", "v4", "v6"}),
    Rule("phone", True, _p("phone", "telephone", "tel", "mobile", "fax", "cell number"), AFTER),
    Rule("ssn", True, _p("ssn", "social security"), AFTER),
    Rule("passport", True, _p("passport"), AFTER | {"id"}),
    Rule("licence", True, _p(*[f"{w} {n}" for w in ("licence", "license")
                               for n in ("number", "no", "nr", "num", "id")],
                             *[f"{d} {w}" for d in ("driver", "drivers", "driving")
                               for w in ("licence", "license")]), AFTER | {"id"}),
    Rule("national_id", True, _p("national id", "national insurance", "tax id",
                                 "tax number", "citizen id", "personal id", "voter id",
                                 "nhs number"), AFTER),
    Rule("card", True, _p("card number", "card no", "card nr", "card num", "credit card",
                          "debit card", "cc number", "pan"), AFTER, _p("card")),
    Rule("iban", True, _p("iban"), AFTER | {"code"}),
    Rule("account", True, _p("account number", "account no", "account nr", "account num",
                             "acct number", "acct no", "acct num", "bank account",
                             "routing number", "sort code"), AFTER),
    Rule("birth_date", True, _p("dob", "birthday", "birthdate", "birth"),
         AFTER | {"date", "dt", "day", "year"}),
    Rule("name", True, _p(*[f"{w} name" for w in sorted(PEOPLE)], "surname", "forename"), AFTER,
         _p("name")),
    Rule("address", True, _p("address", "addr", "street", "zip", "zip code", "postcode",
                             "postal code", "post code", "house number"),
         AFTER | {"line", "code", "name"}),
    Rule("identifier", False, _p("id", "ids", "uuid", "guid", "identifier", "serial"),
         AFTER | {"code", "key"}),
)
# Names written as one word; each is read as the words it joins.
JOINED = {"emailaddress": "email address", "firstname": "first name",
          "lastname": "last name", "fullname": "full name", "givenname": "given name",
          "familyname": "family name", "username": "user name", "phonenumber": "phone number",
          "cellphone": "phone", "mobilephone": "phone", "zipcode": "zip code",
          "postalcode": "postal code", "dateofbirth": "birth",
          "ipaddress": "ip address", "ipaddr": "ip address", "creditcard": "credit card",
          "cardnumber": "card number", "streetaddress": "street address",
          "accountnumber": "account number", "passportnumber": "passport number"}
# ``userid``, ``customerid``: one word ending in "id" after a word for a thing or person
# (and not ``paid``, ``valid``, ``android``).
ID_OWNERS = _w("user customer cust client account acct person patient member employee order "
               "session device transaction visitor record row subscriber contract invoice "
               "student passenger product item flight engine")
# Names that start like this count or flag something: ``has_email``, ``n_phones``.
NOT_THE_VALUE = _w("is has had uses n num number count cnt total nb opt")


def tokens(name: str) -> list[str]:
    """The words of a column name, lower case: ``customerID`` -> customer, id;
    ``IPAddress`` -> ip, address; ``e-mail_2`` -> e, mail (numbers at the end go)."""
    words = [w.lower() for w in
             re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+", name)]
    out: list[str] = []
    for word in words:
        if word in JOINED:
            out += JOINED[word].split()
        elif word.endswith("id") and word[:-2] in ID_OWNERS:
            out += [word[:-2], "id"]
        else:
            out.append(word)
    while out and out[-1].isdigit():
        out.pop()
    return out


def by_name(name: str) -> tuple[Rule, str] | None:
    """The rule a column name matches, and the words that matched."""
    words = tokens(name)
    if not words or words[0] in NOT_THE_VALUE:
        return None
    if words[0] == "id" and len(words) > 1:  # id_customer
        return RULES[-1], "id"
    for rule in RULES:
        if tuple(words) in rule.whole:
            return rule, " ".join(words)
        for phrase in rule.phrases:
            n = len(phrase)
            for start in range(len(words) - n + 1):
                if tuple(words[start:start + n]) == phrase and \
                        all(w in rule.after for w in words[start + n:]):
                    return rule, " ".join(phrase)
    return None


def detect(frame: pd.DataFrame, *, skip: Iterable[str] = ()) -> list[Personal]:
    """The columns of ``frame`` (all but ``skip``: the target, the time) that hold
    personal data or identifiers, in the frame's order. The kind found in the values
    wins over the name's (an ``id`` of e-mail addresses holds e-mail addresses);
    both are given as evidence."""
    skipped = set(skip)
    found = []
    for column in frame.columns:
        if column in skipped:
            continue
        named = None if _flag(frame[column]) else by_name(str(column))
        valued = patterns.by_value(frame[column])
        if named is None and valued is None:
            continue
        evidence = []
        if named is not None:
            evidence.append(f"its name matches '{named[1]}'")
        if valued is not None:
            evidence.append(valued[1])
        if valued is not None and (named is None or valued[0] != "identifier"):
            kind = valued[0]
        else:
            kind = named[0].kind
        found.append(Personal(str(column), kind, kind != "identifier", "; ".join(evidence)))
    return found


def _flag(series: pd.Series) -> bool:
    """True for a yes/no column: ``mobile`` or ``email`` holding Yes/No says whether
    there is one, not what it is."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return True
    try:
        values = series.dropna().drop_duplicates()
    except TypeError:  # lists or dicts in the cells
        return False
    return 1 <= len(values) <= 2 and values.astype(str).str.lower().isin(YES_NO).all()


YES_NO = ("yes", "no", "y", "n", "true", "false", "t", "f", "0", "1", "0.0", "1.0")


@dataclass(frozen=True)
class Verdict:
    results: list[GateResult]  # one record per detected column
    refused: dict[str, str]  # column -> why: leave it out of the features
    unlogged: list[str]  # columns to leave out of the prediction log


def check(spec: PrivacyGate, found: list[Personal], *, candidates: list[str],
          included: list[str] | None, entity: str | None = None) -> Verdict:
    """Records for the ``found`` columns. ``candidates`` would be features;
    ``included`` is ``features.include`` (None when not given), which then alone
    names the features.

    A detected column not in ``spec.allow`` is refused as a feature (a passed
    record: nothing personal goes in) and left out of the prediction log. The check
    fails only for one the project lists in ``features.include`` without allowing it:
    the user asked for it, so the refusal must be loud. The entity column stays in
    the log when it is only an identifier: monitoring joins ground truth by it."""
    results, refused, unlogged = [], {}, []
    # with features.include, it alone names the features (as in shipyard.prepare)
    asked = set(included or ())
    wanted = asked if included is not None else set(candidates)
    for p in found:
        what = _what(p)
        metric = f"{p.column}.{p.kind}"
        reason = spec.allow.get(p.column)
        feature = p.column in wanted
        if reason is not None:
            # used as it is (and logged); actual 1 <= 1 says "a feature, and allowed"
            use = "used as a feature" if feature else "not a feature"
            results.append(judge("privacy", metric, float(feature), "<=", float(feature),
                                 f"allowed: {reason} ({what}; {use}, kept in the "
                                 "prediction log)", spec.blocking))
            continue
        logged, log = _log(p, entity)
        if not logged:
            unlogged.append(p.column)
        if p.column in asked:
            refused[p.column] = f"the privacy gate refuses it: {what}"
            results.append(judge(
                "privacy", metric, 1.0, "<=", 0,
                f"refused as a feature, but features.include lists it: {what}; {log}. "
                f"Remove it from features.include, or allow it under gates.privacy.allow "
                "with a reason", spec.blocking))
        elif feature:
            refused[p.column] = f"the privacy gate refuses it: {what}"
            results.append(judge("privacy", metric, 0.0, "<=", 0,
                                 f"refused as a feature: {what}; {log}", spec.blocking))
        else:
            results.append(judge("privacy", metric, 0.0, "<=", 0,
                                 f"not a feature: {what}; {log}", spec.blocking))
    return Verdict(results, refused, unlogged)


def _what(p: Personal) -> str:
    kind = p.kind.replace("_", " ")
    if not p.personal:
        return f"an identifier: {p.evidence}"
    return f"personal data ({kind}): {p.evidence}"


def _log(p: Personal, entity: str | None) -> tuple[bool, str]:
    """Whether the column stays in the prediction log, and what to say about it."""
    if p.column != entity:
        return False, "left out of the prediction log"
    if not p.personal:
        return True, ("kept in the prediction log: it is the entity, by which monitoring "
                      "joins ground truth")
    return False, ("left out of the prediction log although it is the entity: monitoring "
                   "cannot join ground truth by it unless gates.privacy.allow names it")
