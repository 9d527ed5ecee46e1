"""Labeled PII corpus generator for the PII benchmark and tests.

Why generated, not collected: real PII cannot be committed, and gold
offsets must be exact.  Every document is assembled piece by piece and the
offset of each PII value is recorded *while* it is appended, so the gold
labels are correct by construction (no regex re-finding afterwards).

The generator is deterministic for a given ``(n, seed)`` and installed Faker
version.  Values come from Faker (names, cities, e-mails, cards, IBANs, SSNs,
SINs) and are checked with independent, minimal validators here (Luhn, SSA
ranges, ``phonenumbers`` validity) so that every gold label is genuine PII.

Document kinds (weights in ``_KINDS``): prose, log lines, JSON payloads, URLs,
CSV rows, text hard-wrapped at a random width (so grouped numbers, names and
obfuscated e-mails break across lines), SHOUTED upper-case prose, PII pressed
against punctuation, Unicode (emoji/accents/CJK) surroundings, look-alike-only
texts and texts without PII.  Look-alikes that are *not* labeled: order and
invoice numbers, UPS/FedEx/USPS/DHL tracking numbers, Luhn-invalid card-like
numbers, SSA-invalid SSN-like numbers, bad-checksum IBANs, dates, prices,
version strings, user agents, UUIDs, epoch and ISO timestamps, MAC addresses
and hex digests.

Labels: EMAIL_ADDRESS (incl. obfuscated and URL-encoded), PHONE_NUMBER,
US_SSN, CA_SIN, CREDIT_CARD, IBAN_CODE, IP_ADDRESS, PERSON, LOCATION.
Bare (undelimited) SSN/SIN values are only emitted where the text labels
them (e.g. ``"ssn": "123456789"``); without a label nobody can tell a bare
nine-digit SSN from any other number.
"""

from __future__ import annotations

import calendar
import json
import random
import string
from datetime import datetime
from dataclasses import dataclass, field
from typing import Callable

import phonenumbers
from faker import Faker

Entity = dict[str, object]

# --------------------------------------------------------------------------
# document builder


@dataclass
class _Doc:
    """Accumulates text and records gold spans as values are appended."""

    parts: list[str] = field(default_factory=list)
    pos: int = 0
    entities: list[Entity] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += len(text)

    def ent(self, type_name: str, value: str, lead: str = "") -> None:
        """Append ``lead`` (unlabeled, e.g. ``"tel:"``) then the labeled ``value``."""
        if lead:
            self.add(lead)
        self.entities.append({"type": type_name, "start": self.pos, "end": self.pos + len(value)})
        self.add(value)

    @property
    def text(self) -> str:
        return "".join(self.parts)


# --------------------------------------------------------------------------
# independent validators (kept separate from the engine on purpose)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _published_iin(d: str) -> bool:
    """Prefix is a published card-scheme IIN range (ISO/IEC 7812 issuers).

    Faker's card generator also emits numbers no scheme issues (Maestro
    "0604...", JCB "3500"-"3527"); those are not payment cards, so they are
    not used as gold CREDIT_CARD values.
    """
    two, three, four = int(d[:2]), int(d[:3]), int(d[:4])
    return (
        d[0] == "4" or 51 <= two <= 55 or 2221 <= four <= 2720 or two in (34, 37) or four == 6011
        or two == 65 or 644 <= three <= 649 or 3528 <= four <= 3589 or 300 <= three <= 305
        or two in (36, 38, 39) or 56 <= two <= 58 or two == 62
        or four in (5018, 5020, 5038, 5893, 6304, 6390, 6759, 6761, 6762, 6763)
    )


def _ssn_ok(digits: str) -> bool:
    area, group, serial = int(digits[:3]), int(digits[3:5]), int(digits[5:])
    return 0 < area < 900 and area != 666 and group != 0 and serial != 0


# --------------------------------------------------------------------------
# value generators

# Fixed date range (never "now"), so the corpus does not change from day to day.
_EPOCH_START = datetime(2022, 1, 1)
_EPOCH_END = datetime(2026, 12, 31)


class _Gen:
    """All random choices for one corpus, seeded once."""

    NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT")
    PHONE_LOCALES = {"US": "en_US", "GB": "en_GB", "DE": "de_DE", "FR": "fr_FR", "CA": "en_CA"}
    IBAN_LOCALES = ("de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL", "de_AT", "fr_CH", "nl_BE", "pl_PL",
                    "pt_PT", "fi_FI", "no_NO", "cs_CZ", "ro_RO", "en_IE", "da_DK")
    CARD_TYPES = ("visa16", "visa16", "visa13", "mastercard", "mastercard", "amex", "discover", "jcb16",
                  "diners", "maestro")
    SERVICES = ("billing", "auth", "gateway", "orders", "notify", "ledger", "search", "profile")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        locales = sorted(set(self.NAME_LOCALES) | set(self.PHONE_LOCALES.values()) | set(self.IBAN_LOCALES))
        self.fk: dict[str, Faker] = {}
        for i, loc in enumerate(locales):
            fake = Faker(loc)
            fake.seed_instance(seed * 1000 + i)
            self.fk[loc] = fake
        self.en = self.fk["en_US"]

    def choice(self, seq):  # type: ignore[no-untyped-def]
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))

    # -- PII ---------------------------------------------------------------
    def person(self) -> str:
        fake = self.fk[self.choice(self.NAME_LOCALES)]
        return f"{fake.first_name()} {fake.last_name()}"

    def location(self) -> str:
        pick = self.rng.random()
        if pick < 0.25:
            return self.fk["de_DE"].city()
        if pick < 0.45:
            return self.fk["es_ES"].city()
        if pick < 0.65:
            return self.en.city()
        if pick < 0.8:
            return self.en.state()
        return self.en.country()

    def _local_part(self) -> str:
        fake = self.fk[self.choice(self.NAME_LOCALES)]
        first = self._ascii(fake.first_name()).lower()
        last = self._ascii(fake.last_name()).lower().replace(" ", "")
        style = self.rng.randrange(6)
        if style == 0:
            return f"{first}.{last}"
        if style == 1:
            return f"{first[0]}{last}"
        if style == 2:
            return f"{first}_{last}{self.rng.randrange(1, 99)}"
        if style == 3:
            return f"{first}.{last}+{self.choice(['news', 'billing', 'test', 'shop'])}"
        if style == 4:
            return self.en.user_name()
        return f"{first}{self.rng.randrange(1970, 2005)}"

    @staticmethod
    def _ascii(value: str) -> str:
        table = str.maketrans("äöüßéèêëàâáíìóòôúùñçÄÖÜÉÈÀÁÍÓÚÑÇ'", "aousee" "eeaaaiiooouuncAOUEEAAIOUNC-")
        return "".join(ch for ch in value.translate(table) if ch.isascii() and (ch.isalnum() or ch in "-."))

    def domain(self) -> str:
        pick = self.rng.random()
        if pick < 0.35:
            return self.en.free_email_domain()
        if pick < 0.7:
            return self.fk[self.choice(self.NAME_LOCALES)].domain_name()
        return self.choice(["example.com", "example.org", "mail.example.co.uk", "corp.example.de", "example.fr"])

    def email(self) -> str:
        value = f"{self._local_part()}@{self.domain()}"
        if self.chance(0.1):
            value = value.title()
        return value

    def email_obfuscated(self) -> str:
        local = self._local_part().split("+")[0]
        labels = self.domain().split(".")
        style = self.rng.randrange(6)
        if style == 0:
            return f"{local} at {' dot '.join(labels)}"
        if style == 1:
            return f"{local} [at] {' [dot] '.join(labels)}"
        if style == 2:
            return f"{local}(at){'(dot)'.join(labels)}"
        if style == 3:
            return f"{local.upper()} AT {' DOT '.join(label.upper() for label in labels)}"
        if style == 4:
            return f"{local} [at] {'.'.join(labels)}"
        return f"{local} (at) {' (dot) '.join(labels)}"

    def _phone_number(self) -> tuple[phonenumbers.PhoneNumber, str]:
        region = self.choice(list(self.PHONE_LOCALES))
        fake = self.fk[self.PHONE_LOCALES[region]]
        for _ in range(50):
            raw = fake.phone_number()
            try:
                num = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            num.extension = None
            if phonenumbers.is_valid_number(num):
                return num, region
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None, region
        return example, region

    def phone(self, allow_ext: bool = True) -> str:
        num, region = self._phone_number()
        nanp = num.country_code == 1
        fmt = phonenumbers.PhoneNumberFormat
        style = self.rng.randrange(8)
        if style == 0:
            value = phonenumbers.format_number(num, fmt.E164)
        elif style in (1, 2):
            value = phonenumbers.format_number(num, fmt.INTERNATIONAL)
        elif style in (3, 4):
            value = phonenumbers.format_number(num, fmt.NATIONAL)
        elif style == 5 and nanp:
            nsn = phonenumbers.national_significant_number(num)
            value = self.choice([f"{nsn[:3]}.{nsn[3:6]}.{nsn[6:]}", f"{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}",
                                 f"1-{nsn[:3]}-{nsn[3:6]}-{nsn[6:]}"])
        elif style == 5:
            intl = phonenumbers.format_number(num, fmt.INTERNATIONAL)
            value = "00" + intl[1:]
        elif style == 6 and not nanp:
            intl = phonenumbers.format_number(num, fmt.INTERNATIONAL)
            cc, rest = intl.split(" ", 1)
            value = f"{cc} (0){rest}"
        else:
            value = phonenumbers.format_number(num, fmt.INTERNATIONAL)
        if allow_ext and nanp and self.chance(0.1):
            value += self.choice([" ext. ", " x", " ext "]) + str(self.rng.randrange(10, 9999))
        return value

    def phone_e164(self) -> str:
        num, _ = self._phone_number()
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)

    def ssn_digits(self) -> str:
        while True:
            digits = self.en.ssn().replace("-", "")
            if len(digits) == 9 and _ssn_ok(digits):
                return digits

    def ssn(self, bare_ok: bool = False) -> str:
        d = self.ssn_digits()
        pick = self.rng.random()
        if bare_ok and pick < 0.3:
            return d
        if pick < 0.8:
            return f"{d[:3]}-{d[3:5]}-{d[5:]}"
        return f"{d[:3]} {d[3:5]} {d[5:]}"

    def sin_digits(self) -> str:
        while True:
            digits = self.fk["en_CA"].ssn().replace(" ", "").replace("-", "")
            if len(digits) == 9 and digits[0] not in "08" and _luhn_ok(digits):
                return digits

    def sin(self, bare_ok: bool = False) -> str:
        d = self.sin_digits()
        pick = self.rng.random()
        if bare_ok and pick < 0.3:
            return d
        sep = " " if pick < 0.7 else "-"
        return f"{d[:3]}{sep}{d[3:6]}{sep}{d[6:]}"

    def card_digits(self) -> str:
        while True:
            digits = self.en.credit_card_number(self.choice(self.CARD_TYPES))
            if _luhn_ok(digits) and _published_iin(digits):
                return digits

    def _group_card(self, d: str, sep: str) -> str:
        if (len(d) == 15 and d[:2] in ("34", "37")) or len(d) == 14:
            groups = [d[:4], d[4:10], d[10:]]
        else:
            groups = [d[i : i + 4] for i in range(0, len(d), 4)]
        return sep.join(groups)

    def card(self) -> str:
        d = self.card_digits()
        pick = self.rng.random()
        if pick < 0.5:
            return self._group_card(d, " ")
        if pick < 0.75:
            return self._group_card(d, "-")
        return d

    def iban(self) -> str:
        value = self.fk[self.choice(self.IBAN_LOCALES)].iban()
        if self.chance(0.55):
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ip(self) -> str:
        pick = self.rng.random()
        if pick < 0.35:
            return self.en.ipv4_public()
        if pick < 0.55:
            return self.en.ipv4_private()
        if pick < 0.8:
            return self.en.ipv6()
        if pick < 0.9:
            return f"2001:db8::{self.rng.randrange(1, 0xFFFF):x}"
        return f"fe80::{self.rng.randrange(1, 0xFFFF):x}:{self.rng.randrange(1, 0xFFFF):x}"

    # -- look-alikes (never labeled) ------------------------------------------
    def order(self) -> str:
        return self.choice([
            f"ORD-{self.rng.randrange(2019, 2026)}-{self.digits(6)}",
            f"#{self.rng.randrange(1, 9)}{self.digits(8)}",
            f"PO-{self.digits(5)}-{self.digits(3)}",
            f"INV-{self.rng.randrange(2019, 2026)}-{self.digits(5)}",
            f"{self.rng.randrange(100, 999)}-{self.digits(7)}-{self.digits(7)}",
            f"A{self.digits(2)}-{self.digits(6)}",
        ])

    def tracking(self) -> str:
        alnum = string.ascii_uppercase + string.digits
        return self.choice([
            "1Z" + "".join(self.rng.choice(alnum) for _ in range(6)) + self.digits(10),
            f"{self.rng.randrange(1000, 9999)} {self.digits(4)} {self.digits(4)}",
            f"94{self.digits(2)} {self.digits(4)} {self.digits(4)} {self.digits(4)} {self.digits(4)} {self.digits(2)}",
            self.rng.choice("6789") + self.digits(11),
            "JD01" + self.digits(16),
        ])

    def bad_card(self) -> str:
        d = self.card_digits()
        d = d[:-1] + str((int(d[-1]) + self.rng.randrange(1, 10)) % 10)
        return self._group_card(d, self.choice([" ", "-", ""]))

    def bad_ssn(self) -> str:
        area = self.choice(["000", "666", str(self.rng.randrange(900, 1000))])
        return f"{area}-{self.digits(2)}-{self.digits(4)}"

    def bad_iban(self) -> str:
        value = self.fk[self.choice(self.IBAN_LOCALES)].iban()
        check = (int(value[2:4]) + self.rng.randrange(1, 96)) % 97
        value = value[:2] + f"{check:02d}" + value[4:]
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))

    def date(self) -> str:
        dt = self.en.date_time_between(start_date=_EPOCH_START, end_date=_EPOCH_END)
        return self.choice([dt.strftime("%Y-%m-%d"), dt.strftime("%d/%m/%Y"), dt.strftime("%m/%d/%Y"),
                            dt.strftime("%d.%m.%Y"), dt.strftime("%b %d, %Y"), dt.strftime("%Y%m%d")])

    def timestamp(self) -> str:
        dt = self.en.date_time_between(start_date=_EPOCH_START, end_date=_EPOCH_END)
        epoch = calendar.timegm(dt.timetuple())  # timezone-independent, so output is reproducible
        return self.choice([
            dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.rng.randrange(1000):03d}Z",
            dt.strftime("%Y-%m-%d %H:%M:%S,") + f"{self.rng.randrange(1000):03d}",
            str(epoch),
            str(epoch * 1000 + self.rng.randrange(1000)),
        ])

    def price(self) -> str:
        amount = self.rng.randrange(100, 999999) / 100
        return self.choice([f"${amount:,.2f}", f"€{amount:.2f}", f"{amount:,.2f} USD",
                            f"{amount:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".") + " €",
                            f"GBP {amount:.2f}"])

    def version(self) -> str:
        a, b, c = self.rng.randrange(0, 20), self.rng.randrange(0, 40), self.rng.randrange(0, 200)
        return self.choice([f"v{a}.{b}.{c}", f"{a}.{b}.{c}", f"{a}.{b}.{c}-rc.{self.rng.randrange(1, 5)}",
                            f"{a}.{b}.{c}.{self.rng.randrange(1000, 30000)}", f"{a}.{b}",
                            f"{self.rng.randrange(3, 6)}.{self.rng.randrange(0, 20)}.0-{self.rng.randrange(10, 200)}-generic"])

    def uuid(self) -> str:
        return self.en.uuid4()

    def mac(self) -> str:
        return ":".join(f"{self.rng.randrange(256):02X}" for _ in range(6))

    def hexdigest(self) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(self.choice([12, 40, 64])))

    def user_agent(self) -> str:
        return self.en.user_agent()

    def sentence(self) -> str:
        return self.en.sentence(nb_words=self.rng.randrange(6, 14))


# --------------------------------------------------------------------------
# templates: "{SLOT}" = labeled PII, "{~slot}" = unlabeled look-alike

_PII_SLOTS: dict[str, tuple[str, Callable[[_Gen], str]]] = {
    "PERSON": ("PERSON", lambda g: g.person()),
    "LOCATION": ("LOCATION", lambda g: g.location()),
    "EMAIL": ("EMAIL_ADDRESS", lambda g: g.email()),
    "EMAIL_OBF": ("EMAIL_ADDRESS", lambda g: g.email_obfuscated()),
    "PHONE": ("PHONE_NUMBER", lambda g: g.phone()),
    "SSN": ("US_SSN", lambda g: g.ssn(bare_ok=False)),
    "SSN_LABELED": ("US_SSN", lambda g: g.ssn(bare_ok=True)),
    "SIN": ("CA_SIN", lambda g: g.sin(bare_ok=False)),
    "SIN_LABELED": ("CA_SIN", lambda g: g.sin(bare_ok=True)),
    "CARD": ("CREDIT_CARD", lambda g: g.card()),
    "IBAN": ("IBAN_CODE", lambda g: g.iban()),
    "IP": ("IP_ADDRESS", lambda g: g.ip()),
}
_LOOKALIKE_SLOTS: dict[str, Callable[[_Gen], str]] = {
    "order": lambda g: g.order(),
    "tracking": lambda g: g.tracking(),
    "badcard": lambda g: g.bad_card(),
    "badssn": lambda g: g.bad_ssn(),
    "badiban": lambda g: g.bad_iban(),
    "date": lambda g: g.date(),
    "ts": lambda g: g.timestamp(),
    "price": lambda g: g.price(),
    "version": lambda g: g.version(),
    "uuid": lambda g: g.uuid(),
    "mac": lambda g: g.mac(),
    "hex": lambda g: g.hexdigest(),
    "ua": lambda g: g.user_agent(),
    "svc": lambda g: g.choice(_Gen.SERVICES),
    "ms": lambda g: str(g.rng.randrange(1, 3000)),
    "int": lambda g: str(g.rng.randrange(1, 100000)),
    "sentence": lambda g: g.sentence(),
}

PROSE = (
    "Please contact {PERSON} at {EMAIL} about the renewal.",
    "{PERSON} called from {PHONE} and asked us to update the card on file to {CARD}.",
    "Wire the refund to IBAN {IBAN}, account holder {PERSON}.",
    "Suspicious login from {IP} for {EMAIL}; the session was revoked.",
    "Employee {PERSON} (SSN {SSN_LABELED}) relocated to {LOCATION} in March.",
    "The Canadian contractor's SIN is {SIN_LABELED}; mail the T4 slip to {LOCATION}.",
    "{PERSON} moved from {LOCATION} to {LOCATION} last spring.",
    "You can reach me on {PHONE} or write to {EMAIL_OBF}.",
    "Order {~order} for {PERSON} ships to {LOCATION} on {~date}; total {~price}.",
    "Hi team, {PERSON} from {LOCATION} reported that the card {CARD} was charged twice ({~price}).",
    "Social security number: {SSN_LABELED}. Applicant: {PERSON}.",
    "Please update my direct debit to {IBAN} and send confirmation to {EMAIL}.",
    "The VPN gateway {IP} rejected {PERSON}'s certificate at {~ts}.",
    "Call me back at {PHONE}, or my colleague {PERSON} at {PHONE}.",
    "Tracking number {~tracking} belongs to order {~order}, placed by {EMAIL}.",
    "My SIN {SIN_LABELED} was entered incorrectly, please fix it.",
    "Send the contract to {EMAIL_OBF} before {~date}.",
    "{PERSON} will present the roadmap in {LOCATION} next week.",
    "Customer {PERSON}, SSN {SSN}, card {CARD}, phone {PHONE}.",
    "Release {~version} fixed the crash reported by {PERSON} ({EMAIL}).",
    "Our office in {LOCATION} can be reached at {PHONE}.",
    "The payment from {IBAN} failed with reference {~order}.",
    "Address the letter to {PERSON}, who lives near {LOCATION}.",
    "Blocked {IP} after 15 failed logins; last attempt used {EMAIL}.",
    "SSN on the W-2 is {SSN}; the employer is located in {LOCATION}.",
    "Please charge {CARD} for invoice {~order} ({~price}).",
    "{PERSON} asked whether {LOCATION} or {LOCATION} is closer to the venue.",
    "For urgent matters ring {PHONE}; otherwise email {EMAIL}.",
    "Declined card {~badcard} was replaced by {CARD}.",
    "Notes from the call with {PERSON}: prefers contact via {EMAIL_OBF}.",
)

LOOKALIKE_SENTENCES = (
    "Order {~order} has shipped. Tracking number: {~tracking}.",
    "Your package {~tracking} is out for delivery.",
    "Your total is {~price}, charged on {~date}.",
    "Declined test card {~badcard} (checksum failed).",
    "Deployed version {~version} (build {~uuid}) at {~ts}.",
    "Invoice {~order} is due {~date}; amount {~price}.",
    "Ticket {~order} reopened at {~ts}.",
    "Artifact digest {~hex} verified.",
    "Reference {~badssn} is not a valid SSN.",
    "Test IBAN {~badiban} was rejected by the bank.",
    "Device {~mac} registered on {~date}.",
    "Upgrade to {~version} before {~date} to keep support.",
    "Request {~uuid} took {~ms} ms and returned {~int} rows.",
    "Card-like number {~badcard} failed validation.",
)

NO_PII = (
    "The deployment finished in {~ms} seconds without errors.",
    "Quarterly revenue grew by four percent compared to the previous quarter.",
    "Remember to rotate the credentials before the audit.",
    "The cache hit ratio dropped after the last configuration change.",
    "We will review the pull request tomorrow morning.",
    "Please reply with your availability for the retrospective.",
    "{~sentence}",
    "{~sentence} {~sentence}",
)

LOGS = (
    "{~ts} INFO  [{~svc}] user={EMAIL} ip={IP} path=/api/v1/orders/{~int} status=200 latency={~ms}ms",
    "{~ts} WARN  [{~svc}] payment declined card={CARD} amount={~price} request_id={~uuid}",
    "{~ts} ERROR [{~svc}] failed to send SMS to {PHONE}: timeout after 30s (client {~version})",
    '{~ts} DEBUG [{~svc}] iban={IBAN} holder="{PERSON}" trace_id={~hex}',
    '{IP} - - [{~ts}] "GET /profile?id={~int} HTTP/1.1" 200 {~int} "-" "{~ua}"',
    "{~ts} INFO  [{~svc}] kyc check passed ssn={SSN_LABELED} order={~order}",
    "{~ts} INFO  [{~svc}] sin={SIN_LABELED} verified for {PERSON}",
    "{~ts} WARN  [{~svc}] rate limit for {IP} (ua={~ua})",
    "{~ts} INFO  [{~svc}] shipment {~tracking} created for order {~order}",
    "{~ts} ERROR [{~svc}] upstream {IP}:8443 reset connection; retry {~int}",
)


def _render(g: _Gen, doc: _Doc, template: str) -> None:
    """Append ``template`` to ``doc``, generating and labeling slot values."""
    i = 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            doc.add(template[i:])
            return
        doc.add(template[i:j])
        k = template.index("}", j)
        slot = template[j + 1 : k]
        if slot.startswith("~"):
            doc.add(_LOOKALIKE_SLOTS[slot[1:]](g))
        else:
            type_name, make = _PII_SLOTS[slot]
            doc.ent(type_name, make(g))
        i = k + 1


# --------------------------------------------------------------------------
# document kinds


def _prose(g: _Gen, doc: _Doc) -> None:
    for n in range(g.rng.randrange(1, 3)):
        if n:
            doc.add(" ")
        _render(g, doc, g.choice(PROSE))


def _wrapped(g: _Gen, doc: _Doc) -> None:
    """Prose hard-wrapped at a random width: spaces become newlines (1:1, offsets kept)."""
    for n in range(3):
        if n:
            doc.add(" ")
        _render(g, doc, g.choice(PROSE))
    text = doc.text
    width = g.rng.randrange(18, 48)
    chars = list(text)
    line_start = 0
    last_space = -1
    for idx, ch in enumerate(chars):
        if ch == " ":
            last_space = idx
        if idx - line_start >= width and last_space > line_start:
            chars[last_space] = "\n"
            line_start = last_space + 1
    doc.parts = ["".join(chars)]


def _upper(g: _Gen, doc: _Doc) -> None:
    _prose(g, doc)
    text = doc.text
    upper = "".join(ch.upper() if len(ch.upper()) == 1 else ch for ch in text)
    doc.parts = [upper]


def _punct(g: _Gen, doc: _Doc) -> None:
    wrappers = (("(", ")"), ("[", "]"), ("<", ">"), ('"', '",'), ("'", "'."), ("“", "”"), ("", ";"),
                ("", "."), ("", "!"), ("", "?"), ("«", "»"), ("", ":"))
    slots = ("EMAIL", "PHONE", "CARD", "IBAN", "IP", "SSN", "SIN", "EMAIL_OBF", "PERSON")
    labels = {"EMAIL": "mail", "PHONE": "tel", "CARD": "card", "IBAN": "iban", "IP": "ip", "SSN": "ssn",
              "SIN": "sin", "EMAIL_OBF": "contact", "PERSON": "name"}
    for n in range(g.rng.randrange(2, 5)):
        slot = g.choice(slots)
        left, right = g.choice(wrappers)
        doc.add(("; " if n else "") + labels[slot] + " " + left)
        type_name, make = _PII_SLOTS[slot]
        doc.ent(type_name, make(g))
        doc.add(right)


def _unicode(g: _Gen, doc: _Doc) -> None:
    templates = (
        "📧 {EMAIL} ✅ — merci {PERSON} !",
        "联系人：{PERSON}，电话：{PHONE}，邮箱：{EMAIL}。",
        "Café «{PERSON}» à {LOCATION} 🚀 IBAN {IBAN}",
        "Ünïcödé ✨ {CARD} ✨ naïve façade",
        "お客様のIPアドレス {IP} からのアクセス 🙏",
        "Señor {PERSON} — teléfono {PHONE} 📱, correo {EMAIL}",
        "🔒 SSN {SSN} 🔒 SIN {SIN} 🇨🇦",
        "Grüße aus {LOCATION}! 😀 Kontakt: {EMAIL_OBF}",
    )
    _render(g, doc, g.choice(templates))


_JSON_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("name", "PERSON"), ("full_name", "PERSON"), ("email", "EMAIL"), ("phone", "PHONE"), ("mobile", "PHONE"),
    ("city", "LOCATION"), ("country", "LOCATION"), ("ssn", "SSN_LABELED"), ("sin", "SIN_LABELED"),
    ("card_number", "CARD"), ("iban", "IBAN"), ("client_ip", "IP"),
    ("order_id", "~order"), ("tracking", "~tracking"), ("amount", "~price"), ("created_at", "~ts"),
    ("app_version", "~version"), ("id", "~uuid"), ("note", "~sentence"),
)


def _json(g: _Gen, doc: _Doc) -> None:
    fields = g.rng.sample(_JSON_FIELDS, g.rng.randrange(3, 8))
    doc.add('{"event": "customer.updated", ')
    nested = g.chance(0.4)
    if nested:
        doc.add('"customer": {')
    for n, (key, slot) in enumerate(fields):
        if n:
            doc.add(", ")
        doc.add(f'"{key}": ')
        if slot is None or slot.startswith("~"):
            value = _LOOKALIKE_SLOTS[slot[1:]](g) if slot else ""
            doc.add(json.dumps(value, ensure_ascii=False))
            continue
        type_name, make = _PII_SLOTS[slot]
        value = make(g)
        if json.dumps(value, ensure_ascii=False) != f'"{value}"':
            value = make(g)
        doc.add('"')
        doc.ent(type_name, value)
        doc.add('"')
    doc.add("}}" if nested else "}")


def _url(g: _Gen, doc: _Doc) -> None:
    pick = g.rng.randrange(7)
    if pick == 0:
        doc.add("GET https://shop.example.com/account?email=")
        email = g.email()
        doc.ent("EMAIL_ADDRESS", email.replace("@", "%40") if g.chance(0.5) else email)
        doc.add(f"&ref={g.order()} HTTP/1.1")
    elif pick == 1:
        doc.add("https://api.example.com/v2/users/")
        doc.ent("EMAIL_ADDRESS", g.email())
        doc.add(f"/orders/{g.rng.randrange(1, 99999)}?expand=items")
    elif pick == 2:
        doc.ent("EMAIL_ADDRESS", g.email(), lead="Write to mailto:")
        doc.add(f"?subject=Invoice%20{g.rng.randrange(1000, 99999)} for details.")
    elif pick == 3:
        doc.ent("IP_ADDRESS", g.en.ipv4(), lead="Health check http://")
        doc.add(f":8080/health failed at {g.timestamp()}")
    elif pick == 4:
        doc.ent("IP_ADDRESS", g.en.ipv6(), lead="Upstream https://[")
        doc.add("]:443/v1/metrics timed out")
    elif pick == 5:
        doc.add("Click tel:")
        doc.ent("PHONE_NUMBER", g.phone_e164())
        doc.add(" or visit https://example.com/support?phone=")
        doc.ent("PHONE_NUMBER", "%2B" + g.phone_e164()[1:])
        doc.add("&lang=en")
    else:
        doc.add("https://bank.example.com/transfer?iban=")
        doc.ent("IBAN_CODE", g.iban().replace(" ", ""))
        doc.add(f"&amount={g.rng.randrange(1, 9999)}.00&currency=EUR")


def _csv(g: _Gen, doc: _Doc) -> None:
    columns = g.rng.sample(["PERSON", "EMAIL", "PHONE", "LOCATION", "CARD", "IBAN", "IP", "~order", "~date"], 4)
    header = {"PERSON": "name", "EMAIL": "email", "PHONE": "phone", "LOCATION": "city", "CARD": "card",
              "IBAN": "iban", "IP": "ip", "~order": "order", "~date": "date"}
    doc.add(",".join(header[c] for c in columns) + "\n")
    for row in range(g.rng.randrange(1, 3)):
        if row:
            doc.add("\n")
        for n, column in enumerate(columns):
            if n:
                doc.add(",")
            if column.startswith("~"):
                doc.add(_LOOKALIKE_SLOTS[column[1:]](g))
            else:
                type_name, make = _PII_SLOTS[column]
                doc.ent(type_name, make(g))


def _log(g: _Gen, doc: _Doc) -> None:
    _render(g, doc, g.choice(LOGS))


def _lookalike(g: _Gen, doc: _Doc) -> None:
    for n in range(g.rng.randrange(2, 4)):
        if n:
            doc.add(" ")
        _render(g, doc, g.choice(LOOKALIKE_SENTENCES))


def _no_pii(g: _Gen, doc: _Doc) -> None:
    _render(g, doc, g.choice(NO_PII))


_KINDS: tuple[tuple[str, Callable[[_Gen, _Doc], None], int], ...] = (
    ("prose", _prose, 24),
    ("log", _log, 12),
    ("json", _json, 12),
    ("url", _url, 7),
    ("csv", _csv, 5),
    ("wrapped", _wrapped, 7),
    ("upper", _upper, 6),
    ("punct", _punct, 6),
    ("unicode", _unicode, 5),
    ("lookalike", _lookalike, 11),
    ("no_pii", _no_pii, 5),
)


def generate(n: int, seed: int) -> list[dict]:
    """``n`` labeled documents ``{"id", "text", "entities": [{"type","start","end"}], "kind"}``.

    Deterministic for a given ``(n, seed)`` (and Faker version).
    """
    g = _Gen(seed)
    names = [k[0] for k in _KINDS]
    makers = {k[0]: k[1] for k in _KINDS}
    weights = [k[2] for k in _KINDS]
    docs: list[dict] = []
    for index in range(n):
        kind = g.rng.choices(names, weights)[0]
        doc = _Doc()
        makers[kind](g, doc)
        text = doc.text
        entities = sorted(doc.entities, key=lambda e: (e["start"], e["end"]))
        docs.append({"id": f"s{seed}-{index:06d}", "kind": kind, "text": text, "entities": entities})
    return docs


if __name__ == "__main__":  # pragma: no cover - manual inspection aid
    import argparse

    parser = argparse.ArgumentParser(description="Print a labeled PII corpus as JSONL")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for item in generate(args.n, args.seed):
        print(json.dumps(item, ensure_ascii=False))
