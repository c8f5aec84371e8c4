"""The privacy gate: detectors on hand-made columns, names, real data, the verdict."""

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from shipyard.data import fleet
from shipyard.gates import patterns, privacy
from shipyard.spec.gates import PrivacyGate

ROOT = Path(__file__).resolve().parents[2]


def text(*values):
    return pd.Series(list(values), dtype="str")


def many(values, n=40):
    """``values`` repeated to ``n`` rows: a column the detectors judge as a whole."""
    return pd.Series([values[i % len(values)] for i in range(n)], dtype="str")


# -- value detectors ---------------------------------------------------------------

def test_cards_need_the_luhn_check():
    values = text("4111 1111 1111 1111", "4111-1111-1111-1112", "5500005555555559",
                  "378282246310005", "6011000990139424", "0000000000000", "1234567812345678",
                  "4111 1111 1111")
    assert patterns.cards(values).tolist() == [True, False, True, True, True, False, False,
                                               False]


def test_ibans_need_the_mod97_check():
    values = text("GB82 WEST 1234 5698 7654 32", "DE89370400440532013000",
                  "DE89370400440532013001", "FR1420041010050500013M02606", "gb82west12345698765432",
                  "GB82WEST")
    assert patterns.ibans(values).tolist() == [True, True, False, True, True, False]


def test_phones_in_international_and_national_formats():
    good = text("+44 20 7946 0958", "(415) 555-0100", "415-555-0100", "415.555.0100 x23",
                "030-12345678", "06 12 34 56 78", "+4915112345678", "0049 30 1234567",
                "+1 (415) 555-0100", "020 7946 0958")
    assert patterns.phones(good).all()
    bad = text("01/02/2020", "2024-01-03", "12345", "3.14159", "123-45-6789", "5551234567",
               "-12.5", "1e10", "42")
    assert not patterns.phones(bad).any()


def test_ip_addresses_v4_and_v6():
    values = text("192.168.1.1", "2001:db8::1", "::1", "::ffff:10.0.0.1",
                  "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "256.1.1.1", "12:30:45", "1.2.3")
    assert patterns.ips(values).tolist() == [True] * 5 + [False] * 3


def test_ssns_follow_the_rules_of_the_format():
    values = text("123-45-6789", "000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567",
                  "123-45-0000", "123456789")
    assert patterns.ssns(values).tolist() == [True] + [False] * 6


def test_emails():
    values = text("a.b@example.com", "jo+tag@sub.example.co.uk", "x@y", "foo bar@x.com", "@x.io")
    assert patterns.emails(values).tolist() == [True, True, False, False, False]


def test_a_column_is_flagged_when_most_values_match():
    mostly = many(["ann@example.com"] * 9 + ["n/a"])
    assert patterns.match(mostly) == ("email", pytest.approx(0.9))
    half = many(["ann@example.com", "n/a"])
    assert patterns.match(half) is None


@pytest.mark.parametrize("values, kind", [
    (["4111 1111 1111 1111", "5500-0055-5555-5559", "378282246310005"], "card"),
    (["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"], "iban"),
    (["+44 20 7946 0958", "(415) 555-0100", "030-12345678"], "phone"),
    (["10.0.0.1", "2001:db8::1", "192.168.0.12"], "ip"),
    (["123-45-6789", "234-56-7890"], "ssn"),
    (["ann@example.com", "bo@example.org"], "email"),
])
def test_detect_finds_personal_values_under_innocent_names(values, kind):
    found = privacy.detect(pd.DataFrame({"contact": many(values)}))
    assert [(p.column, p.kind, p.personal) for p in found] == [("contact", kind, True)]
    assert "of 40 sampled values are" in found[0].evidence


def test_card_numbers_stored_as_integers_are_found():
    cards = pd.Series([4111111111111111, 5500005555555559, 6011000990139424] * 10)
    assert [p.kind for p in privacy.detect(pd.DataFrame({"x": cards}))] == ["card"]


def test_innocent_values_are_not_flagged():
    rng = np.random.default_rng(0)
    n = 500
    frame = pd.DataFrame({
        "egt": rng.normal(600, 20, n),  # a sensor reading
        "price": rng.integers(100, 100_000, n),  # near-unique, but amounts are no keys
        "big": rng.integers(10**9, 10**10, n),  # ten digits: a phone number only as text
        "grade": rng.integers(0, 5, n),
        "when": pd.date_range("2026-01-01", periods=n, freq="h"),
        "day": pd.Series(pd.date_range("2020-01-01", periods=n).strftime("%Y-%m-%d"),
                         dtype="str"),
        "price_text": pd.Series([f"{v:.2f}" for v in rng.uniform(1, 500, n)], dtype="str"),
        "comment": pd.Series([f"the engine ran fine on day {i}" for i in range(n)],
                             dtype="str"),
        "colour": pd.Series(rng.choice(["red", "green", "blue"], n), dtype="str"),
        "flag": rng.random(n) > 0.5,
    })
    assert privacy.detect(frame) == []


def test_near_unique_codes_and_dense_integer_keys_are_identifiers():
    frame = pd.DataFrame({"code": [f"{i:04d}-AB{i % 7}" for i in range(100)],
                          "row": np.arange(1000, 1100), "amount": np.arange(100) * 37})
    found = privacy.detect(frame)
    assert [(p.column, p.kind, p.personal) for p in found] == [
        ("code", "identifier", False), ("row", "identifier", False)]
    assert found[0].evidence == "100 distinct values in 100 rows, shaped like identifiers"


def test_fewer_than_twenty_values_are_never_unique_enough():
    assert privacy.detect(pd.DataFrame({"code": [f"A{i}" for i in range(19)]})) == []


# -- names -------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind", [
    ("customerID", "identifier"), ("customer_id", "identifier"), ("CustomerId", "identifier"),
    ("id", "identifier"), ("ID", "identifier"), ("userid", "identifier"), ("uuid", "identifier"),
    ("id_client", "identifier"), ("engine_serial", "identifier"),
    ("email", "email"), ("e-mail", "email"), ("EmailAddress", "email"), ("mail", "email"),
    ("phone", "phone"), ("phone_number_2", "phone"), ("mobile", "phone"), ("Tel", "phone"),
    ("ssn", "ssn"), ("SocialSecurityNumber", "ssn"), ("passport_no", "passport"),
    ("drivers_license", "licence"), ("licence_number", "licence"),
    ("first_name", "name"), ("LastName", "name"), ("surname", "name"), ("name", "name"),
    ("address", "address"), ("street_address", "address"), ("zip", "address"),
    ("ZIPCode", "address"), ("postcode", "address"), ("date_of_birth", "birth_date"),
    ("DOB", "birth_date"), ("birthdate", "birth_date"), ("iban", "iban"),
    ("account_number", "account"), ("credit_card", "card"), ("card_number", "card"),
    ("ip", "ip"), ("IPAddress", "ip"), ("client_ip", "ip"),
])
def test_names_that_say_personal_data_or_identifier(name, kind):
    rule, _ = privacy.by_name(name)
    assert rule.kind == kind
    assert rule.personal == (kind != "identifier")


@pytest.mark.parametrize("name", [
    "paid", "idle", "valid", "width", "video", "android", "ideal", "PhoneService",
    "email_opt_in", "has_email", "is_mobile", "address_verified", "model_name", "zipper",
    "tip", "StreamingTV", "SeniorCitizen", "MultipleLines", "PaymentMethod", "hours-per-week",
    "native-country", "egt", "vibration", "tail", "cycles_since_new", "birth_weight",
])
def test_innocent_names_do_not_match(name):
    assert privacy.by_name(name) is None


def test_name_tokens():
    assert privacy.tokens("customerIDNumber") == ["customer", "id", "number"]
    assert privacy.tokens("e-mail_2") == ["e", "mail"]
    assert privacy.tokens("IPAddress") == ["ip", "address"]


def test_a_yes_no_column_is_not_personal_by_its_name():
    frame = pd.DataFrame({"mobile": ["Yes", "No"] * 20, "phone": ["+44 20 7946 0958"] * 40})
    assert [p.column for p in privacy.detect(frame)] == ["phone"]


def test_values_win_over_names_and_both_are_evidence():
    frame = pd.DataFrame({"customer_id": many(["ann@example.com", "bo@example.org"])})
    (p,) = privacy.detect(frame)
    assert (p.kind, p.personal) == ("email", True)
    assert p.evidence == "its name matches 'id'; 100% of 40 sampled values are e-mail addresses"


def test_cells_holding_lists_are_judged_by_name_only():
    frame = pd.DataFrame({"email": [["a@b.com"]] * 30, "tags": [{"a": 1}] * 30})
    assert [(p.column, p.evidence) for p in privacy.detect(frame)] == [
        ("email", "its name matches 'email'")]


def test_skip_leaves_columns_out():
    frame = pd.DataFrame({"id": range(30), "email": ["a@b.com"] * 30})
    assert [p.column for p in privacy.detect(frame, skip=["id"])] == ["email"]


# -- data shaped like the public sets --------------------------------------------
# The real files live outside the project (bench/fairness.py runs the gate on the real
# Telco file); these frames copy their columns' shapes and kinds of values.

def telco_like(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    ids = [f"{rng.integers(1000, 9999)}-{''.join(rng.choice(letters, 5))}" for _ in range(n)]
    yes_no = lambda: rng.choice(["Yes", "No"], n)  # noqa: E731
    tenure = rng.integers(0, 73, n)
    monthly = rng.uniform(18.25, 118.75, n).round(2)
    total = np.where(tenure == 0, " ", (monthly * np.maximum(tenure, 1)).round(2).astype(str))
    return pd.DataFrame({
        "customerID": ids, "gender": rng.choice(["Female", "Male"], n),
        "SeniorCitizen": rng.integers(0, 2, n), "Partner": yes_no(), "Dependents": yes_no(),
        "tenure": tenure, "PhoneService": yes_no(),
        "MultipleLines": rng.choice(["No phone service", "No", "Yes"], n),
        "InternetService": rng.choice(["DSL", "Fiber optic", "No"], n),
        "OnlineSecurity": yes_no(), "TechSupport": yes_no(),
        "Contract": rng.choice(["Month-to-month", "One year", "Two year"], n),
        "PaperlessBilling": yes_no(),
        "PaymentMethod": rng.choice(["Electronic check", "Mailed check",
                                     "Bank transfer (automatic)",
                                     "Credit card (automatic)"], n),
        "MonthlyCharges": monthly, "TotalCharges": total, "Churn": yes_no()})


def adult_like(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(17, 91, n),
        "workclass": rng.choice(["State-gov", "Self-emp-not-inc", "Private", None], n),
        # census weights: near-unique integers, but spread like amounts, not keys
        "fnlwgt": rng.integers(12_285, 1_484_705, n),
        "education": rng.choice(["Bachelors", "HS-grad", "11th", "Masters"], n),
        "education-num": rng.integers(1, 17, n),
        "marital-status": rng.choice(["Never-married", "Married-civ-spouse", "Divorced"], n),
        "occupation": rng.choice(["Adm-clerical", "Exec-managerial", "Sales"], n),
        "relationship": rng.choice(["Not-in-family", "Husband", "Wife"], n),
        "race": rng.choice(["White", "Black", "Other"], n),
        "sex": rng.choice(["Male", "Female"], n),
        "capital-gain": np.where(rng.random(n) < 0.9, 0, rng.integers(100, 99_999, n)),
        "capital-loss": np.where(rng.random(n) < 0.95, 0, rng.integers(100, 4_356, n)),
        "hours-per-week": rng.integers(1, 100, n),
        "native-country": rng.choice(["United-States", "Mexico", "India"], n),
        "income": rng.choice(["<=50K", ">50K"], n)})


def test_telco_only_customer_id_is_caught():
    found = privacy.detect(telco_like(), skip=["Churn"])
    assert [(p.column, p.kind) for p in found] == [("customerID", "identifier")]
    assert "2,000 distinct values in 2,000 rows" in found[0].evidence


def test_adult_has_nothing_to_catch():
    assert privacy.detect(adult_like(), skip=["income"]) == []


def test_the_demo_flags_only_its_keys():
    tables = fleet.simulate(aircraft=12, seed=7, days=60)
    project = yaml.safe_load((ROOT / "src" / "shipyard" / "data" / "fleet.yaml").read_text())
    with duckdb.connect() as con:
        for name, table in tables.items():
            con.register(name, table)
        rows = con.execute(project["source"]["query"]).df()
    found = privacy.detect(rows, skip=["rul", "flight_date"])
    assert [(p.column, p.kind, p.personal) for p in found] == [
        ("engine_id", "identifier", False), ("flight_id", "identifier", False)]


# -- the verdict -------------------------------------------------------------------

FOUND = [privacy.Personal("customerID", "identifier", False, "its name matches 'id'"),
         privacy.Personal("email", "email", True, "100% of 40 sampled values are e-mail "
                                                  "addresses"),
         privacy.Personal("zip", "address", True, "its name matches 'zip'")]


def test_detected_candidates_are_refused_and_unlogged_and_the_gate_passes():
    verdict = privacy.check(PrivacyGate(), FOUND, candidates=["email", "zip", "tenure"],
                            included=None, entity="customerID")
    assert set(verdict.refused) == {"email", "zip"}
    assert "e-mail addresses" in verdict.refused["email"]
    assert verdict.unlogged == ["email", "zip"]  # the entity stays: ground truth joins by it
    by = {r.metric: r for r in verdict.results}
    assert list(by) == ["customerID.identifier", "email.email", "zip.address"]
    assert all(r.passed and r.gate == "privacy" and r.op == "<=" and r.threshold == 0
               for r in verdict.results)
    assert by["email.email"].actual == 0.0
    assert by["email.email"].details.startswith("refused as a feature: personal data (email)")
    assert by["customerID.identifier"].details.startswith("not a feature: an identifier")
    assert "kept in the prediction log: it is the entity" in by["customerID.identifier"].details


def test_an_explicit_include_without_allow_fails_loudly():
    verdict = privacy.check(PrivacyGate(blocking=True), FOUND, candidates=["email", "tenure"],
                            included=["email", "tenure"])
    (r,) = [r for r in verdict.results if r.metric == "email.email"]
    assert not r.passed and r.blocking and r.actual == 1.0
    assert "features.include lists it" in r.details and "gates.privacy.allow" in r.details
    assert "email" in verdict.refused and "email" in verdict.unlogged


def test_with_features_include_other_columns_are_no_features():
    verdict = privacy.check(PrivacyGate(), FOUND, candidates=["email", "zip", "tenure"],
                            included=["tenure"])
    assert all(r.passed and r.details.startswith("not a feature") for r in verdict.results)
    assert verdict.refused == {} and verdict.unlogged == ["customerID", "email", "zip"]


def test_a_warning_gate_does_not_block():
    verdict = privacy.check(PrivacyGate(blocking=False), FOUND, candidates=[],
                            included=["email"])
    (r,) = [r for r in verdict.results if r.metric == "email.email"]
    assert not r.passed and not r.blocking and r.ok


def test_allowed_columns_are_used_logged_and_the_reason_is_recorded():
    spec = PrivacyGate(allow={"zip": "coarse region, needed for pricing"})
    verdict = privacy.check(spec, FOUND, candidates=["email"], included=["zip", "email"])
    by = {r.metric: r for r in verdict.results}
    assert by["zip.address"].passed and by["zip.address"].actual == 1.0
    assert by["zip.address"].details.startswith("allowed: coarse region, needed for pricing")
    assert "zip" not in verdict.refused and "zip" not in verdict.unlogged
    assert not by["email.email"].passed


def test_a_personal_entity_is_unlogged_and_the_details_say_so():
    found = [privacy.Personal("email", "email", True, "its name matches 'email'")]
    verdict = privacy.check(PrivacyGate(), found, candidates=[], included=None, entity="email")
    assert verdict.unlogged == ["email"] and verdict.refused == {}
    assert "although it is the entity" in verdict.results[0].details
    assert verdict.results[0].passed
