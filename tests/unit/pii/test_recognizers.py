"""Per-recognizer positives and look-alike negatives (structured types, no spaCy)."""

from __future__ import annotations

import pytest

from uf_pii import Finding
from uf_pii.recognizers.ca_sin import CaSinRecognizer
from uf_pii.recognizers.credit_card import CreditCardRecognizer
from uf_pii.recognizers.email import EmailRecognizer
from uf_pii.recognizers.iban import IbanRecognizer
from uf_pii.recognizers.ip_address import IpAddressRecognizer
from uf_pii.recognizers.phone import PhoneRecognizer
from uf_pii.recognizers.us_ssn import UsSsnRecognizer

RECOGNIZERS = {
    "EMAIL_ADDRESS": EmailRecognizer(),
    "PHONE_NUMBER": PhoneRecognizer(),
    "US_SSN": UsSsnRecognizer(),
    "CA_SIN": CaSinRecognizer(),
    "CREDIT_CARD": CreditCardRecognizer(),
    "IBAN_CODE": IbanRecognizer(),
    "IP_ADDRESS": IpAddressRecognizer(),
}

# (type, text, expected value) -- the expected value must be found exactly.
POSITIVES = [
    ("EMAIL_ADDRESS", "mail jane.doe@example.com now", "jane.doe@example.com"),
    ("EMAIL_ADDRESS", "CONTACT JOHN.DOE@EXAMPLE.CO.UK.", "JOHN.DOE@EXAMPLE.CO.UK"),
    ("EMAIL_ADDRESS", "(o'neil+tag@mail.example.org)", "o'neil+tag@mail.example.org"),
    ("EMAIL_ADDRESS", "'quoted@example.com'", "quoted@example.com"),
    ("EMAIL_ADDRESS", "https://x.example/u/jane@example.com/profile", "jane@example.com"),
    ("EMAIL_ADDRESS", "?email=jane.doe%40example.org&x=1", "jane.doe%40example.org"),
    ("EMAIL_ADDRESS", "write to jane at example dot com please", "jane at example dot com"),
    ("EMAIL_ADDRESS", "jane [at] example [dot] com", "jane [at] example [dot] com"),
    ("EMAIL_ADDRESS", "jane(at)example(dot)co(dot)uk", "jane(at)example(dot)co(dot)uk"),
    ("EMAIL_ADDRESS", "JANE AT EXAMPLE DOT COM", "JANE AT EXAMPLE DOT COM"),
    ("EMAIL_ADDRESS", "jane [at] example.com", "jane [at] example.com"),
    ("EMAIL_ADDRESS", "jane at\nexample dot org", "jane at\nexample dot org"),
    ("EMAIL_ADDRESS", "请联系josé.garcía@correo.es谢谢", "josé.garcía@correo.es"),
    ("PHONE_NUMBER", "call (415) 555-0132 today", "(415) 555-0132"),
    ("PHONE_NUMBER", "call 415.555.0132.", "415.555.0132"),
    ("PHONE_NUMBER", "ring +44 20 7946 0958", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "ring 020 7946 0958", "020 7946 0958"),
    ("PHONE_NUMBER", "Tel. +49 (0)30 12345678", "+49 (0)30 12345678"),
    ("PHONE_NUMBER", "Mobil 0151 23456789", "0151 23456789"),
    ("PHONE_NUMBER", "tél 01 23 45 67 89", "01 23 45 67 89"),
    ("PHONE_NUMBER", "tél 01.23.45.67.89", "01.23.45.67.89"),
    ("PHONE_NUMBER", "tel:+14155550132", "+14155550132"),
    ("PHONE_NUMBER", "0044 20 7946 0958", "0044 20 7946 0958"),
    ("PHONE_NUMBER", "+1 (415) 555-0132 ext. 45", "+1 (415) 555-0132 ext. 45"),
    ("PHONE_NUMBER", "call +44 20 7946\n0958 now", "+44 20 7946\n0958"),
    ("PHONE_NUMBER", "?phone=%2B442079460958&x", "%2B442079460958"),
    ("PHONE_NUMBER", "tel (+44 20 7946 0958);", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "Call the order desk at 415-555-0132.", "415-555-0132"),
    ("PHONE_NUMBER", "Phone # 415-555-0132", "415-555-0132"),
    ("PHONE_NUMBER", "Sheffield office 0114 496 0383", "0114 496 0383"),
    ("PHONE_NUMBER", "from the US dial 011 44 20 7946 0958", "011 44 20 7946 0958"),
    ("PHONE_NUMBER", "name,phone\nJane,+1 415-555-0132\n", "+1 415-555-0132"),
    ("US_SSN", "SSN 138-73-1034.", "138-73-1034"),
    ("US_SSN", "ssn: 138 73 1034", "138 73 1034"),
    ("US_SSN", '{"ssn": "138731034"}', "138731034"),
    ("US_SSN", "Social Security Number is 138731034", "138731034"),
    ("CA_SIN", "SIN 130 692 544", "130 692 544"),
    ("CA_SIN", "sin=130-692-544;", "130-692-544"),
    ("CA_SIN", '{"sin": "130692544"}', "130692544"),
    ("CREDIT_CARD", "card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    ("CREDIT_CARD", "card 4111-1111-1111-1111.", "4111-1111-1111-1111"),
    ("CREDIT_CARD", "4111111111111111,next", "4111111111111111"),
    ("CREDIT_CARD", "amex 3782 822463 10005", "3782 822463 10005"),
    ("CREDIT_CARD", "mc 5555 5555 5555 4444", "5555 5555 5555 4444"),
    ("CREDIT_CARD", "mc 2-series 2221 0000 0000 0009", "2221 0000 0000 0009"),
    ("CREDIT_CARD", "diners 3056 930902 5904", "3056 930902 5904"),
    ("CREDIT_CARD", "card 4111 1111\n1111 1111 wrapped", "4111 1111\n1111 1111"),
    ("CREDIT_CARD", "card,date\n1030\n4111111111111111,2025", "4111111111111111"),
    ("IBAN_CODE", "IBAN DE89 3704 0044 0532 0130 00 and", "DE89 3704 0044 0532 0130 00"),
    ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32.", "GB82 WEST 1234 5698 7654 32"),
    ("IBAN_CODE", "FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("IBAN_CODE", "iban=de89370400440532013000&x", "de89370400440532013000"),
    ("IBAN_CODE", "DE89 3704 0044\n0532 0130 00", "DE89 3704 0044\n0532 0130 00"),
    ("IBAN_CODE", "NL91ABNA0417164300", "NL91ABNA0417164300"),
    ("IP_ADDRESS", "from 192.168.10.254, ok", "192.168.10.254"),
    ("IP_ADDRESS", "ip:10.0.0.7", "10.0.0.7"),
    ("IP_ADDRESS", "http://10.0.0.7:8080/health", "10.0.0.7"),
    ("IP_ADDRESS", "v6 2001:db8::1.", "2001:db8::1"),
    ("IP_ADDRESS", "http://[2001:db8::8a2e:370:7334]:8080/x", "2001:db8::8a2e:370:7334"),
    ("IP_ADDRESS", "fe80::1%eth0 up", "fe80::1"),
    ("IP_ADDRESS", "upstream 2001:db8:0:0:0:0:0:1:8443 reset", "2001:db8:0:0:0:0:0:1"),
]

# Look-alikes that must produce no finding of the given type.
NEGATIVES = [
    ("EMAIL_ADDRESS", "logo@2x.png"),
    ("EMAIL_ADDRESS", "user@localhost"),
    ("EMAIL_ADDRESS", "look at github.com for details"),
    ("EMAIL_ADDRESS", "meet at noon"),
    ("PHONE_NUMBER", "Order #4155550132 shipped"),
    ("PHONE_NUMBER", "ticket #4155550132"),
    ("PHONE_NUMBER", "ORD-2023-884512"),
    ("PHONE_NUMBER", "tracking no: 7749 1234 5678"),
    ("PHONE_NUMBER", "USPS 9400 1000 0000 0000 0000 00"),
    ("PHONE_NUMBER", "epoch 1699093353123"),
    ("PHONE_NUMBER", "due 03.08.2027"),
    ("PHONE_NUMBER", "on 2023-11-04 at 10:22:33"),
    ("PHONE_NUMBER", "client 0.35.87.14380"),
    ("PHONE_NUMBER", "version 7.16.76.11959"),
    ("PHONE_NUMBER", "Gecko/2013-04-28 00:31:09"),
    ("PHONE_NUMBER", "Test IBAN NL12 VUSO 2734 0123 34 rejected"),
    ("PHONE_NUMBER", "uuid 550e8400-e29b-41d4-a716-446655440000"),
    ("PHONE_NUMBER", "price $1,299.99 or 1.234,56 €"),
    ("US_SSN", "666-12-3456"),
    ("US_SSN", "900-12-3456"),
    ("US_SSN", "123-00-4567"),
    ("US_SSN", "id 138731034"),
    ("US_SSN", "2023-11-04"),
    ("US_SSN", "ORD-138-73-1034"),
    ("CA_SIN", "SIN 130 692 545"),
    ("CA_SIN", "ref 130692544"),
    ("CA_SIN", "SIN 046 454 286"),
    ("CREDIT_CARD", "4111 1111 1111 1112"),
    ("CREDIT_CARD", "USPS 9400 1000 0000 0000 0000 00"),
    ("CREDIT_CARD", "ref 302-6642648-4819118"),
    ("CREDIT_CARD", "epoch 1699093353123"),
    ("CREDIT_CARD", "Order #4111111111111111"),
    ("CREDIT_CARD", "price 4111111111111111.50"),
    ("CREDIT_CARD", "IBAN ES88 5141 7704 4509 3872 1802"),
    ("CREDIT_CARD", "id a4111111111111111"),
    ("IBAN_CODE", "DE88 3704 0044 0532 0130 00"),
    ("IBAN_CODE", "DE89 3704 0044 0532 0130 0"),
    ("IBAN_CODE", "DE89370400440532013000X"),
    ("IBAN_CODE", "XX89 3704 0044 0532 0130 00"),
    ("IP_ADDRESS", "version 1.2.3.4"),
    ("IP_ADDRESS", "v1.2.3.4"),
    ("IP_ADDRESS", "Chrome/120.0.0.0 Safari"),
    ("IP_ADDRESS", "rv:1.9.2.20"),
    ("IP_ADDRESS", "10.0.19045.2965"),
    ("IP_ADDRESS", "1.3.6.1.4.1.311"),
    ("IP_ADDRESS", "999.1.1.1"),
    ("IP_ADDRESS", "MAC 00:1a:2b:3c:4d:5e"),
    ("IP_ADDRESS", "at 10:22:33"),
    ("IP_ADDRESS", "std::vector<int>"),
    ("IP_ADDRESS", "a :: b"),
]


@pytest.mark.parametrize(("type_name", "text", "expected"), POSITIVES)
def test_positive(type_name: str, text: str, expected: str) -> None:
    findings = RECOGNIZERS[type_name].detect(text)
    values = [text[f.start : f.end] for f in findings]
    assert expected in values, values
    assert all(f.type == type_name and 0 < f.score <= 1 for f in findings)


@pytest.mark.parametrize(("type_name", "text"), NEGATIVES)
def test_lookalike_negative(type_name: str, text: str) -> None:
    findings = RECOGNIZERS[type_name].detect(text)
    assert findings == [], [text[f.start : f.end] for f in findings]


def test_ssn_context_does_not_leak_to_nearby_numbers() -> None:
    text = "ssn=138-73-1034 order=#250616225"
    assert [text[f.start : f.end] for f in RECOGNIZERS["US_SSN"].detect(text)] == ["138-73-1034"]


def test_findings_are_frozen_dataclasses() -> None:
    finding = RECOGNIZERS["EMAIL_ADDRESS"].detect("a jane@example.com")[0]
    assert isinstance(finding, Finding)
    with pytest.raises(AttributeError):
        finding.start = 0  # type: ignore[misc]
    assert finding.recognizer == "email"


def test_phone_regions_are_configurable() -> None:
    us_only = PhoneRecognizer(["US"])
    assert us_only.detect("see 020 7946 0958") == []
    assert PhoneRecognizer(["GB"]).detect("see 020 7946 0958")
    # Outside the configured regions a national number needs phone words nearby.
    (found,) = us_only.detect("ring 020 7946 0958")
    assert found.explain is not None and found.explain.pattern_name.startswith("national format of ") and found.explain.context == ("ring",)
    with pytest.raises(ValueError, match="unknown phone regions"):
        PhoneRecognizer(["XX"])


def test_unicode_offsets_are_str_indices() -> None:
    text = "😀👍🏽 東京 Café: jane@example.com ✨ +44 20 7946 0958"
    for type_name in ("EMAIL_ADDRESS", "PHONE_NUMBER"):
        (finding,) = RECOGNIZERS[type_name].detect(text)
        value = text[finding.start : finding.end]
        assert value in ("jane@example.com", "+44 20 7946 0958")


# -- issue 14 hard cases: each class at its root -------------------------------------------------


def _types(text: str) -> list[tuple[str, str]]:
    from uf_pii import Engine

    engine = Engine(nlp=False)
    return [(f.type, text[f.start : f.end]) for f in engine.scan(text)]


def test_email_with_spaces_around_at_also_after_a_display_name() -> None:
    assert _types("write to jane.roe @ example.com today") == [("EMAIL_ADDRESS", "jane.roe @ example.com")]
    assert _types("From: Jane Roe <jane.roe @example.org>") == [("EMAIL_ADDRESS", "jane.roe @example.org")]
    assert _types("meet me @ the office at 5") == []  # no domain with a real TLD


def test_bare_ssn_named_by_csv_tsv_header_or_json_key() -> None:
    csv = "name,ssn,amount\nJane Roe,078051120,12.00\nJohn Poe,219099999,3.50\n"
    assert [v for t, v in _types(csv) if t == "US_SSN"] == ["078051120", "219099999"]
    tsv = "order\ttax_id\n88231\t078051120\n"
    assert ("US_SSN", "078051120") in _types(tsv)
    assert ("US_SSN", "078051120") in _types('{"taxpayerId": "078051120", "n": 1}')
    # A column named something else keeps a nine-digit number out, even near an "ssn" header.
    other = "ssn,account\n078-05-1120,219099999\n"
    assert ("US_SSN", "219099999") not in _types(other)


def test_bare_ssn_from_context_words_in_a_window() -> None:
    for text in ("Tax ID on file: 078051120.", "I entered 078051120 in the SSN field and it failed.",
                 "You have my SSN from last year. Is it still 078051120?"):
        assert ("US_SSN", "078051120") in _types(text), text
    assert _types("Our warehouse code is 219099999.") == []


def test_ssn_context_beats_a_phone_reading_of_the_same_digits() -> None:
    from uf_pii import Engine

    text = "The SSN 030123456 belongs to my daughter."
    (finding,) = Engine(nlp=False).scan(text)
    assert finding.type == "US_SSN"
    assert finding.explain is not None and any(o.startswith("PHONE_NUMBER/") for o in finding.explain.overruled)


def test_phone_extension_is_part_of_the_span() -> None:
    assert _types("call (212) 555-0147, ext. 31 tomorrow") == [("PHONE_NUMBER", "(212) 555-0147, ext. 31")]


def test_national_formats_of_other_regions_with_phone_words() -> None:
    assert _types("WhatsApp me on 098765 43210 after six") == [("PHONE_NUMBER", "098765 43210")]
    assert _types("my mobile is 080-1933-9447") == [("PHONE_NUMBER", "080-1933-9447")]
    assert _types("the phone bill is dated 20240930") == []


def test_street_addresses_in_four_layouts() -> None:
    cases = {
        "US": "1777 Kramer Court, Apt. 5, Springfield, IL 62704",
        "UK": "Flat 3, 17 Jones Road, North Holly, S6 7LJ",
        "DE": "Hauptstraße 5a, 10115 Berlin",
        "FR": "12 bis, rue de la Paix, 75002 Paris",
    }
    for country, address in cases.items():
        assert _types(f"Please send it to {address}. Thanks") == [("STREET_ADDRESS", address)], country
    assert _types("Thanks,\nJane\n17 Jones Road\nLondon\nS6 7LJ\n") == [("STREET_ADDRESS", "17 Jones Road\nLondon\nS6 7LJ")]
    assert _types("We ordered 12 Main Course dishes") == []


def test_canadian_addresses_with_province_and_postcode() -> None:
    cases = [
        "220 Yonge Street, Toronto, ON M5B 2H1",
        "77 Bloor Street West, Toronto ON  M5S 1M2",  # Canada Post: no comma, two spaces
        "1455 rue Peel, Montréal (Québec) H3G 1P1",
        "1234 Rue Sainte-Catherine O\nMontréal, QC H3G 1P1",  # the street name stops at the town line
        "1200 Robson St\nVancouver, BC V6Z1A1",
        "1600 Pennsylvania Ave NW, Washington, DC 20500",  # a direction after the street type (US too)
    ]
    for address in cases:
        assert _types(f"Please send it to {address}. Thanks") == [("STREET_ADDRESS", address)], address
    # D, F, I, O, Q, U are never postcode letters: the street part alone is the address.
    assert _types("Please send it to 220 Yonge Street, Toronto, ON D5B 2H1.") == [("STREET_ADDRESS", "220 Yonge Street")]


def test_values_wrapped_inside_a_quoted_reply() -> None:
    # The quote marker of the next line sits inside the value; spans are those of the original text.
    text = "> the statements. S.S.N.: 591 01\n> 6463\n> paid with 3792\n>  270488 05875 \u2013 CVC sent\n"
    assert _types(text) == [("US_SSN", "591 01\n> 6463"), ("CREDIT_CARD", "3792\n>  270488 05875")]
    # A quoted line that ends a value and a next line that starts another stay two values.
    assert _types("> SSN 591-01-6463\n> 4111 1111 1111 1111\n") == [("US_SSN", "591-01-6463"),
                                                                     ("CREDIT_CARD", "4111 1111 1111 1111")]


def test_address_lines_split_by_html_breaks() -> None:
    text = "<tr><td>Address</td><td>Lange Voorhout 216-H<br>2514 EE Den Haag</td></tr>"
    assert _types(text) == [("STREET_ADDRESS", "Lange Voorhout 216-H<br>2514 EE Den Haag")]
    assert _types("<td>17 Jones Road<br/>London<br />S6 7LJ</td>") == [("STREET_ADDRESS", "17 Jones Road<br/>London<br />S6 7LJ")]


def test_phone_span_stops_at_the_number_and_its_extension() -> None:
    # The matcher's window ends after the number: a "#"-led order number in the next CSV cell
    # is not read as its extension.
    assert _types("+1 443-208-4558,2022-03-13,#108566018") == [("PHONE_NUMBER", "+1 443-208-4558")]
    assert _types("call (212) 555-0147, ext. 31 today") == [("PHONE_NUMBER", "(212) 555-0147, ext. 31")]
    assert _types("call (212) 555-0147 x31 today") == [("PHONE_NUMBER", "(212) 555-0147 x31")]


def test_street_names_with_particles_type_first_and_glued_numbers() -> None:
    cases = [
        "Straße an der Alster 12, 20099 Hamburg",  # type word first, then a particle
        "An der Alster 12, 20099 Hamburg",  # particle-led, found because postcode and town follow
        "Unter den Linden 77\n10117 Berlin",
        "Zum Alten Hafen 3, 27568 Bremerhaven",
        "Dussen vanring 140, 48409 Nördlingen",  # lower-case compound after a name
        "Carl-von-Ossietzky-Str. 9, 26129 Oldenburg",
        "Bahnhofstr.12, 80335 München",
        "Platz der Republik 1",
        "Jan van Goyenkade 10, 1075 HP Amsterdam",
        "Keizersgracht 123",
        "van Eeghenstraat 12",
        "Rue de la Loi 16, 1000 Bruxelles",
        "1600 Avenue of the Americas, New York, NY 10019",
        "456 Camino del Mar, Del Mar, CA 92014",
        "12 de la Vina St, Santa Barbara, CA 93101",
        "4 Stratford upon Avon Road, Leeds LS1 4AP",
        "2 chemin de la Croix de l'Ormeau, 13001 Marseille",
    ]
    for address in cases:
        assert _types(f"Please send it to {address}. Thanks") == [("STREET_ADDRESS", address)], address
    # Look-alikes: a town and a count in neighbouring TSV cells, a phone number before a name.
    assert _types("city\tcount\nHeidelberg\t3\nPerleberg\t1\n") == []
    assert _types("Tel: 020 7946 0353\nAndrea Hill") == [("PHONE_NUMBER", "020 7946 0353")]


def test_phone_reading_wins_only_with_its_own_evidence() -> None:
    # SSN words in the window, but the digits carry a phone label right before them.
    assert _types("SSN on file. Tel: 030123456") == [("PHONE_NUMBER", "030123456")]
    # A phone word in the next chat line is not evidence for these digits.
    assert _types("You have my SSN. Is it still 030123456?\n[10:03] jo: my phone is down") == [("US_SSN", "030123456")]


def test_digit_run_gate_matches_what_recognizers_need() -> None:
    from uf_pii.textview import longest_digit_run

    assert longest_digit_run("GET /api/v1/orders/18273 status=200 id=6f1c2a9e-5d7b") == 5
    assert longest_digit_run("+44 20 7946 0958") == 12
    assert longest_digit_run("call (732)\n828-0744") == 10
    assert longest_digit_run("SSN 123-45-6789") == 9


def test_a_field_named_for_a_quantity_is_not_a_phone_number() -> None:
    text = '{"created_at": "1739615923852", "mobile": "+1 730-925-5704"}'
    assert _types(text) == [("PHONE_NUMBER", "+1 730-925-5704")]


def test_gazetteer_place_beats_a_person_guess_but_not_a_full_name() -> None:
    from uf_pii import Engine

    engine = Engine()
    text = "I was in Salamanca when Jane Roe called. Florence Smith agreed."
    found = {(f.type, text[f.start : f.end]) for f in engine.scan(text)}
    assert ("LOCATION", "Salamanca") in found
    assert ("LOCATION", "Florence") not in found


def test_phone_matcher_skips_runs_that_are_never_phone_numbers() -> None:
    # Card-shaped runs, IPv4 addresses and ISO timestamps are blanked before phonenumbers runs;
    # a phone number next to them is still found with its own offsets.
    text = "2026-12-01 18:40:02 payment declined for +44 20 7946 0958 card=4111 1111 1111 1111 from 10.2.33.4"
    assert _types(text) == [("PHONE_NUMBER", "+44 20 7946 0958"), ("CREDIT_CARD", "4111 1111 1111 1111"),
                            ("IP_ADDRESS", "10.2.33.4")]
    assert _types("fax 01.23.45.67.89 or 555.123.4567") == [("PHONE_NUMBER", "01.23.45.67.89"),
                                                             ("PHONE_NUMBER", "555.123.4567")]


def test_lookalike_characters_and_reply_quotes_inside_values() -> None:
    # Non-breaking hyphen / en dash separators (copied from a PDF), a fullwidth at sign.
    assert _types("call 201\u2011574\u20115962 or SSN 203\u201381\u20139213") == [
        ("PHONE_NUMBER", "201\u2011574\u20115962"), ("US_SSN", "203\u201381\u20139213")]
    assert _types("write to jane.roe\uff20web.de if easier") == [("EMAIL_ADDRESS", "jane.roe\uff20web.de")]
    assert _types("Kontakt: jane.roe(at)stadtwerke-nord(punkt)de") == [
        ("EMAIL_ADDRESS", "jane.roe(at)stadtwerke-nord(punkt)de")]
    # A value wrapped inside a quoted reply continues after the "> " marker.
    assert _types("> Mob.\n> +1 (201) 559\n> 4914 thanks") == [("PHONE_NUMBER", "+1 (201) 559\n> 4914")]
    assert _types("> Refund to gb46 hbuk 9846 3138 1463\n> 34.") == [("IBAN_CODE", "gb46 hbuk 9846 3138 1463\n> 34")]


def test_structure_of_markdown_fixed_width_xml_and_html_tables() -> None:
    markdown = "| Holder | Social Sec. # | Mobile |\n|---|---|---|\n| Ana Lima | 081991257 | +1 201-596-2746 |\n"
    assert ("US_SSN", "081991257") in _types(markdown)
    report = ("ACCOUNT   HOLDER        TAX ID      PHONE\n-------   ------        ------      -----\n"
              "9053671   Ana Lima      315713769   +44 7400 523410\n")
    assert _types(report) == [("US_SSN", "315713769"), ("PHONE_NUMBER", "+44 7400 523410")]
    assert _types('<record id="0725563">\n  <ssn>535530318</ssn>\n</record>') == [("US_SSN", "535530318")]
    assert _types("<tr><td>SSN</td><td>800170122</td></tr>") == [("US_SSN", "800170122")]


def test_ssn_labels_in_other_languages_and_printed_forms() -> None:
    assert _types("Meine US-Sozialversicherungsnummer lautet 658848522. Danke") == [("US_SSN", "658848522")]
    assert _types("Social Security No. ...... 490851437\nTel") == [("US_SSN", "490851437")]
    # An identifier label at the end of a hard-wrapped line still labels the number below it.
    assert _types("SSN#589715571 verified. Case\n432315794 was merged") == [("US_SSN", "589715571")]


def test_lower_case_street_typed_in_a_chat() -> None:
    assert _types("ok so ship it to 414 sycamore rd pls") == [("STREET_ADDRESS", "414 sycamore rd")]
    assert _types("deliver to 82 willow creek\ndrive pls") == [("STREET_ADDRESS", "82 willow creek\ndrive")]
    assert _types("it is a 5 min drive, and 2 hard drive bays are free") == []


def test_yaml_keys_chat_speakers_and_thanks_name_people() -> None:
    from uf_pii import Engine
    from uf_pii.structure import fields

    text = "customers:\n  - id: 002094\n    name: Tobias Van den Bossche\n    ssn: 567859730\n"
    assert {(f.label, text[f.start : f.end]) for f in fields(text)} >= {("name", "Tobias Van den Bossche"),
                                                                       ("ssn", "567859730")}
    assert ("US_SSN", "567859730") in _types(text)
    # A capitalised speaker answering a question is not a YAML key: the SSN context still applies.
    assert ("US_SSN", "567859730") in _types("Agent: what is your SSN?\nPriya: 567859730\n")
    chat = "28/02 14:11 Brigitte: thx!!\n28/02 14:12 Me: ok\n28/02 14:13 Brigitte: call u later\nThanks Priya, that fixed it."
    found = {(f.type, chat[f.start : f.end]) for f in Engine().scan(chat)}
    assert {("PERSON", "Brigitte"), ("PERSON", "Priya")} <= found
    assert ("PERSON", "Me") not in found


def test_addresses_hard_wrapped_inside_the_street_or_before_the_town() -> None:
    for address in ("Domhof 91b, 80331\nMünchen", "8928 Harbor\nView Drive\nProvo, UT 84601",
                    "Lange Voorhout 7-H, 2514 EE Den Haag", "12639 Old Mill\n> Street, Santa Fe, NM 87501"):
        assert _types(f"> Lieferadresse: {address}.\n") == [("STREET_ADDRESS", address)], address
