"""Real-sized labelled documents (1-4 KB) with the hard cases of issue 14, one class each.

Why a second generator: the short corpus (:mod:`bench.pii_corpus`) has one or two sentences per
document, and the engine scores 1.000 on it; customer data is support tickets, e-mails, chat logs
and CSV/JSON exports of 1-4 KB in which the same PII is written the way people write it.  Every
entity carries a ``cls`` naming the way it is written (``ssn.csv_column``, ``email.spaced``,
``phone.extension``, ``address.de`` ...), so the benchmark reports recall per class and a miss
names its class.

Hard-case classes (each generated on purpose, never by accident):

* ``email.spaced`` / ``email.display_spaced``: ``name @ domain.tld``, also inside angle brackets
  after a display name (``Jane Doe <jane @ example.com>``);
* ``ssn.csv_column`` / ``ssn.tsv_column`` / ``ssn.json_key``: bare nine digits whose column header
  or JSON key says what they are;
* ``ssn.context_window``: bare nine digits with SSN words nearby but not right before them
  ("Tax ID on file: ...", "entered ... in the SSN field", "is it still ...?" after an SSN mention);
* ``ssn.phone_conflict``: such values that the phone recognizer also accepts as a valid number;
* ``phone.extension``: ``(212) 555-0147, ext. 31`` and friends (the extension is in the span);
* ``phone.regional``: national formats of regions outside the engine's defaults (India's
  leading-zero trunk, Australia, the Netherlands, Japan, Italy) with phone words nearby;
* ``address.us`` / ``address.uk`` / ``address.de`` / ``address.fr``: postal addresses
  (STREET_ADDRESS: street and number, postcode, town) in each country's layout, on one line or
  several;
* ``address.de_particle`` / ``address.nl`` / ``address.us_particle`` / ``address.fr_particle``: street
  names that are not "Name + type word": lower-case particles ("An der Alster 12", "Jan van
  Goyenkade 10", "12 de la Vina St"), the type word first ("Platz der Republik 1", "1600 Avenue of
  the Americas"), hyphenated names with a particle ("Carl-von-Ossietzky-Str. 9"), "Hauptstr.12";
* ``person.salutation`` / ``person.signoff`` / ``person.display_name`` and plain PERSON/LOCATION in
  prose.

The dev split is seed 101; the held-back split is seed 202 and is only run, never tuned on.
Deterministic for ``(n, seed)`` and the installed Faker version.
"""

from __future__ import annotations

import json

import phonenumbers
from faker import Faker

from bench.pii_corpus import _Doc, _Gen, _ssn_ok

DEV_SEED = 101
HELD_BACK_SEED = 202

_FILLER = (
    "I have been a customer for several years and this is the first time I have had to write in.",
    "The app keeps logging me out whenever I switch between the billing and settings pages.",
    "I was charged twice for the same subscription this month and would like a refund.",
    "Could you please confirm that the changes have been saved on your side?",
    "I already tried clearing the cache and reinstalling, but nothing changed.",
    "Our finance team needs the updated invoice before the end of the quarter.",
    "The delivery was supposed to arrive on Tuesday but the tracking page has not moved since.",
    "Please let me know if you need any further information from me.",
    "We are migrating our accounts to the new plan and want to keep the history.",
    "The verification e-mail never arrived, not even in the spam folder.",
    "I spoke to one of your agents yesterday but the case seems to have been closed.",
    "Attached you will find the screenshots of the error message.",
    "Our payroll export failed again overnight with the same validation error.",
    "Thank you for the quick reply, the workaround helped for now.",
    "The form rejects my details although they are exactly as printed on my card.",
    "Kindly escalate this to someone who can change the billing address.",
)
_AGENT_LINES = (
    "Thanks for reaching out, I'm looking into this now.",
    "Can you confirm a few details so I can verify the account?",
    "I've updated the record, it may take a few minutes to show.",
    "Is there anything else I can help you with today?",
    "Let me check with the billing team.",
)
_SALUTATIONS = ("Dear Mr. ", "Dear Ms. ", "Dear Mrs. ", "Dear Dr. ", "Hello ", "Hi ", "Dear ")
_SIGNOFFS = ("Thanks,\n", "Best regards,\n", "Kind regards,\n", "Cheers,\n", "Regards,\n", "Sincerely,\n",
             "Many thanks,\n", "Thank you,\n")
_EXTRA_REGIONS = {"IN": "en_IN", "AU": "en_AU", "NL": "nl_NL", "JP": "ja_JP", "IT": "it_IT"}  # nl_NL also names Dutch streets
_DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "CA")
_US_STATES = ("AL", "AK", "AZ", "CA", "CO", "CT", "FL", "GA", "IL", "MA", "MD", "MI", "MN", "NC", "NJ", "NY",
              "OH", "OR", "PA", "TX", "VA", "WA", "WI")
_US_STREET_TYPES = ("Street", "St.", "Avenue", "Ave", "Road", "Rd.", "Boulevard", "Blvd", "Lane", "Drive", "Dr.",
                    "Court", "Place", "Way", "Terrace", "Parkway")
_UK_STREET_TYPES = ("Road", "Street", "Lane", "Close", "Avenue", "Gardens", "Crescent", "Drive", "Grove", "Way",
                    "Terrace", "Place", "Hill", "Mews")
_DE_SUFFIXES = ("straße", "str.", "weg", "gasse", "platz", "allee", "ring", "damm")
_FR_STREET_TYPES = ("rue", "avenue", "boulevard", "place", "chemin", "allée", "impasse", "quai", "route")
# Street grammar beyond "Name + type": lower-case particles, the type word first, hyphenated names with
# a particle, "str." glued to the number (address.de_particle, address.nl, address.us_particle,
# address.fr_particle).
_DE_PARTICLE_LEADS = ("Am", "An der", "An den", "Auf dem", "Auf der", "Im", "In der", "In den", "Unter den", "Zum",
                      "Zur", "Vom", "Hinter dem", "Vor dem", "Beim", "Alter", "Neuer", "Große", "Kleine", "Hohe")
_DE_NOUNS = ("Alster", "Markt", "Linden", "Hafen", "Aue", "Berg", "Mühlbach", "Kirchhof", "Sportplatz", "Anger",
             "Eichen", "Wall", "Burstah", "Bleichen", "Rosengarten", "Schlossberg", "Kamp", "Steinbruch", "Brühl")
_DE_TYPE_FIRST = ("Straße", "Platz", "Allee", "Weg", "Ring", "Damm", "Ufer")
_DE_TYPE_ARTICLES = ("an der", "der", "des", "am", "zum", "vor dem", "im")
_NL_PARTICLES = ("van", "van de", "van der", "van den", "de", "ter", "ten", "'t")
_NL_SUFFIXES = ("straat", "gracht", "laan", "plein", "kade", "singel", "dijk", "steeg", "weg")
_NL_TITLES = ("Burgemeester", "Prins", "Koningin", "Jan", "Pieter", "Dokter", "Graaf", "Willem")
_NL_TOWNS = ("Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Leiden", "Zwolle",
             "Alphen aan den Rijn", "Bergen op Zoom", "Haarlem", "Delft")
_US_TYPE_FIRST = ("Avenue of the", "Camino del", "Calle de la", "Paseo de los", "Via del", "Street of the")
_US_PARTICLE_FIRST = ("de la", "del", "la", "van", "de")
_FR_LONG = ("de la Croix de l'{0}", "du Faubourg Saint-{0}", "de l'{0}", "d'{0}", "des {0}s", "du Général {0}",
            "Jean de {0}", "de la Porte de {0}")


class _DocGen(_Gen):
    """Value generators for the hard cases, on top of the short corpus' ones."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        for i, loc in enumerate(sorted(set(_EXTRA_REGIONS.values()) - set(self.fk))):
            fake = Faker(loc)
            fake.seed_instance(seed * 1000 + 500 + i)
            self.fk[loc] = fake
        self._conflict_cache: list[str] = []

    # -- e-mail ---------------------------------------------------------------
    def email_spaced(self) -> str:
        local, domain = self._local_part(), self.domain()
        return self.choice([f"{local} @ {domain}", f"{local} @{domain}", f"{local}@ {domain}"])

    # -- SSN ----------------------------------------------------------------
    def ssn_phone_conflict(self) -> str:
        """Valid SSN digits that the phone matcher also accepts (a valid DE/GB/FR/US national number)."""
        for _ in range(400):
            digits = "0" + self.digits(8)
            if not _ssn_ok(digits):
                continue
            for region in _DEFAULT_REGIONS:
                try:
                    number = phonenumbers.parse(digits, region)
                except phonenumbers.NumberParseException:
                    continue
                if phonenumbers.is_valid_number_for_region(number, region):
                    return digits
        return self.ssn_digits()

    # -- phone --------------------------------------------------------------
    def phone_extension(self) -> str:
        while True:
            num, _ = self._phone_number()
            if num.country_code == 1:
                break
        base = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
        ext = str(self.rng.randrange(2, 9999))
        return base + self.choice([f", ext. {ext}", f" ext. {ext}", f" x{ext}", f" ext {ext}", f", extension {ext}"])

    def phone_regional(self) -> str:
        region = self.choice(list(_EXTRA_REGIONS))
        fake = self.fk[_EXTRA_REGIONS[region]]
        for _ in range(60):
            try:
                number = phonenumbers.parse(fake.phone_number(), region)
            except phonenumbers.NumberParseException:
                continue
            number.extension = None
            if phonenumbers.is_valid_number_for_region(number, region):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        assert example is not None
        return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)

    # -- addresses (cls, text) ------------------------------------------------
    def address(self, country: str | None = None, multiline: bool | None = None) -> tuple[str, str]:
        country = country or self.choice(["us", "uk", "de", "fr", "us", "uk", "de", "fr", "de_particle", "nl",
                                          "us_particle", "fr_particle"])
        sep = "\n" if (multiline if multiline is not None else self.chance(0.5)) else ", "
        if country == "us":
            fake = self.fk["en_US"]
            street = f"{self.rng.randrange(1, 9999)} {fake.last_name()} {self.choice(_US_STREET_TYPES)}"
            if self.chance(0.3):
                street += self.choice([", Apt. ", " Apt ", ", Suite ", " #"]) + str(self.rng.randrange(1, 999))
            town = f"{fake.city()}, {self.choice(_US_STATES)} {fake.postcode()}"
        elif country == "uk":
            fake = self.fk["en_GB"]
            street = f"{self.rng.randrange(1, 300)} {fake.last_name()} {self.choice(_UK_STREET_TYPES)}"
            if self.chance(0.25):
                street = f"Flat {self.rng.randrange(1, 40)}{sep}{street}"
            town = f"{fake.city()}{sep}{fake.postcode()}" if self.chance(0.5) else f"{fake.city()} {fake.postcode()}"
        elif country == "de":
            fake = self.fk["de_DE"]
            name = fake.last_name()
            suffix = self.choice(_DE_SUFFIXES)
            street_name = f"{name}{suffix}" if self.chance(0.7) else f"{name}-{suffix.capitalize()}"
            number = str(self.rng.randrange(1, 200)) + (self.choice(["a", "b", ""]) if self.chance(0.2) else "")
            street = f"{street_name} {number}"
            town = f"{fake.postcode()} {fake.city()}"
        elif country == "de_particle":
            fake = self.fk["de_DE"]
            form = self.rng.randrange(5)
            number = str(self.rng.randrange(1, 200)) + (self.choice(["a", "b", " c", "-4"]) if self.chance(0.2) else "")
            if form == 0:
                street_name = f"{self.choice(_DE_PARTICLE_LEADS)} {self.choice(_DE_NOUNS)}"
            elif form == 1:
                street_name = f"{self.choice(_DE_TYPE_FIRST)} {self.choice(_DE_TYPE_ARTICLES)} {self.choice(_DE_NOUNS)}"
            elif form == 2:
                street_name = f"{fake.first_name()}-{self.choice(['von', 'van', 'de', 'zu'])}-{fake.last_name()}-" \
                              f"{self.choice(['Straße', 'Str.', 'Allee', 'Platz', 'Weg'])}"
            elif form == 3:
                street_name = f"{fake.last_name()} {self.choice(['von', 'van', 'vom', 'zur', 'am'])}{self.choice(_DE_SUFFIXES)}"
            else:
                street_name = f"{fake.last_name()}str."
            sep_number = "" if street_name.endswith(".") and self.chance(0.3) else " "
            street = f"{street_name}{sep_number}{number}"
            town = f"{fake.postcode()} {fake.city()}"
        elif country == "nl":
            fake = self.fk["nl_NL"] if "nl_NL" in self.fk else self.fk["de_DE"]
            stem = self.choice([fake.last_name(), self.choice(_NL_TITLES) + " " + self.choice(_NL_PARTICLES) + " "
                                + fake.last_name().split(" ")[-1].capitalize()])
            street = f"{stem}{self.choice(_NL_SUFFIXES)} {self.rng.randrange(1, 400)}{self.choice(['', '', 'A', '-2', ' bis'])}"
            postcode = f"{self.rng.randrange(1000, 9999)}{self.choice([' ', ''])}{self.choice('ABCEGHJKLMNPRTVWXZ')}" \
                       f"{self.choice('ABCEGHJKLMNPRTVWXZ')}"
            town = f"{postcode} {self.choice(_NL_TOWNS)}"
        elif country == "us_particle":
            fake = self.fk["en_US"]
            if self.chance(0.5):
                street = f"{self.rng.randrange(1, 9999)} {self.choice(_US_TYPE_FIRST)} {fake.last_name()}s"
            else:
                street = f"{self.rng.randrange(1, 9999)} {self.choice(_US_PARTICLE_FIRST)} {fake.last_name()} " \
                         f"{self.choice(_US_STREET_TYPES)}"
            town = f"{fake.city()}, {self.choice(_US_STATES)} {fake.postcode()}"
        elif country == "fr_particle":
            fake = self.fk["fr_FR"]
            street = f"{self.rng.randrange(1, 150)} {self.choice(_FR_STREET_TYPES)} " \
                     + self.choice(_FR_LONG).format(fake.last_name())
            town = f"{fake.postcode()} {fake.city()}"
        else:
            fake = self.fk["fr_FR"]
            number = str(self.rng.randrange(1, 150)) + (" bis" if self.chance(0.1) else "")
            kind = self.choice(_FR_STREET_TYPES)
            street = f"{number}{self.choice([', ', ' '])}{kind} {self.choice(['de la ', 'du ', 'des ', ''])}{fake.last_name()}"
            town = f"{fake.postcode()} {fake.city()}"
        return f"address.{country}", f"{street}{sep}{town}"


def _ent(doc: _Doc, type_name: str, value: str, cls: str) -> None:
    doc.entities.append({"type": type_name, "start": doc.pos, "end": doc.pos + len(value), "cls": cls})
    doc.add(value)


def _filler(g: _DocGen, doc: _Doc, sentences: int) -> None:
    for _ in range(sentences):
        doc.add(g.choice(_FILLER) + " ")


def _sentence_with(g: _DocGen, doc: _Doc) -> None:
    """One sentence carrying one hard case (or a plain entity)."""
    pick = g.rng.randrange(14)
    if pick == 0:
        doc.add("You can also write to ")
        _ent(doc, "EMAIL_ADDRESS", g.email_spaced(), "email.spaced")
        doc.add(" if the portal is down. ")
    elif pick == 1:
        doc.add("Tax ID on file: ")
        _ent(doc, "US_SSN", g.ssn_digits(), "ssn.context_window")
        doc.add(". ")
    elif pick == 2:
        doc.add(g.choice(["I entered ", "My husband typed ", "We put "]))
        _ent(doc, "US_SSN", g.ssn_digits(), "ssn.context_window")
        doc.add(g.choice([" in the SSN field", " into the social security number box", " as the SSN"]))
        doc.add(" and the form rejected it. ")
    elif pick == 3:
        doc.add(g.choice(["You have my SSN from last year. ", "The social security number on file is old. "]))
        doc.add("Is it still ")
        value = g.ssn_phone_conflict() if g.chance(0.5) else g.ssn_digits()
        _ent(doc, "US_SSN", value, "ssn.context_window")
        doc.add("? ")
    elif pick == 4:
        doc.add("Please call me on ")
        _ent(doc, "PHONE_NUMBER", g.phone_extension(), "phone.extension")
        doc.add(" during office hours. ")
    elif pick == 5:
        doc.add(g.choice(["I'm travelling, reach me on my mobile ", "Call me at ", "WhatsApp: ",
                          "my phone number here is "]))
        _ent(doc, "PHONE_NUMBER", g.phone_regional(), "phone.regional")
        doc.add(". ")
    elif pick == 6:
        cls, value = g.address()
        doc.add(g.choice(["Please ship the replacement to:\n", "My new address is ", "Send the letter to "]))
        _ent(doc, "STREET_ADDRESS", value, cls)
        doc.add(".\n" if g.chance(0.5) else ". ")
    elif pick == 7:
        doc.add("My colleague ")
        _ent(doc, "PERSON", g.person(), "person.plain")
        doc.add(" from our office in ")
        _ent(doc, "LOCATION", g.location(), "location.plain")
        doc.add(" is in copy. ")
    elif pick == 8:
        doc.add("The SSN ")
        value = g.ssn_phone_conflict()
        _ent(doc, "US_SSN", value, "ssn.phone_conflict")
        doc.add(" belongs to my daughter. ")
    elif pick == 9:
        doc.add("Our contact number is ")
        _ent(doc, "PHONE_NUMBER", g.phone(allow_ext=False), "phone.plain")
        doc.add(". ")
    elif pick == 10:
        doc.add("The card ending in the number ")
        _ent(doc, "CREDIT_CARD", g.card(), "card.plain")
        doc.add(" was declined. ")
    elif pick == 11:
        doc.add("We moved from ")
        _ent(doc, "LOCATION", g.location(), "location.plain")
        doc.add(" to ")
        _ent(doc, "LOCATION", g.location(), "location.plain")
        doc.add(" in the spring. ")
    elif pick == 12:
        doc.add("Please refund to IBAN ")
        _ent(doc, "IBAN_CODE", g.iban(), "iban.plain")
        doc.add(". ")
    else:
        doc.add("I was in ")
        _ent(doc, "LOCATION", g.location(), "location.plain")
        doc.add(" when ")
        _ent(doc, "PERSON", g.person(), "person.plain")
        doc.add(" called me about it. ")


def _header(g: _DocGen, doc: _Doc, name: str) -> None:
    local = g._local_part()
    doc.add("From: ")
    _ent(doc, "PERSON", name, "person.display_name")
    doc.add(" <")
    if g.chance(0.4):
        _ent(doc, "EMAIL_ADDRESS", f"{local} @ {g.domain()}", "email.display_spaced")
    else:
        _ent(doc, "EMAIL_ADDRESS", f"{local}@{g.domain()}", "email.plain")
    doc.add(">\nTo: ")
    _ent(doc, "EMAIL_ADDRESS", "support@example.com", "email.plain")
    doc.add("\n")
    doc.add(f"Subject: {g.choice(['Billing problem', 'Account update', 'Refund request', 'Cannot log in'])}"
            f" [#{g.digits(6)}]\n\n")


def _salutation(g: _DocGen, doc: _Doc) -> None:
    lead = g.choice(_SALUTATIONS)
    doc.add(lead)
    name = g.person()
    if "Mr." in lead or "Ms." in lead or "Mrs." in lead or "Dr." in lead:
        name = name.split(" ")[-1]
    _ent(doc, "PERSON", name, "person.salutation")
    doc.add(",\n\n")


def _signoff(g: _DocGen, doc: _Doc, name: str) -> None:
    doc.add("\n\n" + g.choice(_SIGNOFFS))
    _ent(doc, "PERSON", name, "person.signoff")
    if g.chance(0.6):
        doc.add("\n")
        cls, value = g.address(multiline=True)
        _ent(doc, "STREET_ADDRESS", value, cls)
    if g.chance(0.5):
        doc.add("\nTel: ")
        _ent(doc, "PHONE_NUMBER", g.phone(allow_ext=False), "phone.plain")
    doc.add("\n")


def _lookalike(g: _DocGen, doc: _Doc) -> None:
    """Numbers that are not PII (never labelled): order/tracking/account numbers, dates, prices."""
    doc.add(g.choice([
        f"Order {g.order()} was placed on {g.date()} for {g.price()}. ",
        f"The tracking number is {g.tracking()}. ",
        f"Our account number with you is {g.digits(9)} and the invoice is {g.order()}. ",
        f"Reference {g.digits(9)} was quoted on the phone bill dated {g.date()}. ",
        f"The app version is {g.version()} (build {g.hexdigest()}). ",
    ]))


def _pad_to(g: _DocGen, doc: _Doc, target: int) -> None:
    while doc.pos < target:
        _filler(g, doc, g.rng.randrange(1, 4))
        if g.chance(0.3):
            _lookalike(g, doc)
        if g.chance(0.6):
            _sentence_with(g, doc)
        if g.chance(0.25):
            doc.add("\n\n")


def _email_doc(g: _DocGen, doc: _Doc) -> None:
    name = g.person()
    _header(g, doc, name)
    _salutation(g, doc)
    _pad_to(g, doc, g.rng.randrange(900, 3500))
    _signoff(g, doc, name)


def _ticket_doc(g: _DocGen, doc: _Doc) -> None:
    doc.add(f"Ticket #{g.digits(6)} | Priority: {g.choice(['low', 'normal', 'high'])} | Channel: web\n")
    doc.add("Customer: ")
    name = g.person()
    _ent(doc, "PERSON", name, "person.plain")
    doc.add("\n\nDescription:\n")
    _pad_to(g, doc, g.rng.randrange(900, 3500))
    doc.add("\n\nInternal note: ")
    _sentence_with(g, doc)


def _chat_doc(g: _DocGen, doc: _Doc) -> None:
    customer = g.person().split(" ")[0]
    target = g.rng.randrange(900, 3000)
    while doc.pos < target:
        minute = g.rng.randrange(60)
        if g.chance(0.4):
            doc.add(f"[10:{minute:02d}] agent: {g.choice(_AGENT_LINES)}\n")
            continue
        doc.add(f"[10:{minute:02d}] {customer.lower()}: ")
        if g.chance(0.6):
            _sentence_with(g, doc)
        else:
            _filler(g, doc, 1)
        doc.add("\n")


_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "PERSON"), ("email", "EMAIL"), ("phone", "PHONE"), ("city", "LOCATION"), ("ssn", "SSN"),
    ("tax_id", "SSN"), ("order", "~order"), ("amount", "~price"), ("created", "~date"),
)


def _table_doc(g: _DocGen, doc: _Doc, delimiter: str) -> None:
    cols = [c for c in _COLUMNS if c[0] in ("ssn", "tax_id")][: 1] + g.rng.sample(
        [c for c in _COLUMNS if c[1] != "SSN"], g.rng.randrange(3, 6))
    g.rng.shuffle(cols)
    cls = "ssn.tsv_column" if delimiter == "\t" else "ssn.csv_column"
    doc.add(delimiter.join(c[0] for c in cols) + "\n")
    target = g.rng.randrange(900, 3000)
    while doc.pos < target:
        for n, (_, slot) in enumerate(cols):
            if n:
                doc.add(delimiter)
            if slot == "SSN":
                _ent(doc, "US_SSN", g.ssn_phone_conflict() if g.chance(0.3) else g.ssn_digits(), cls)
            elif slot.startswith("~"):
                value = {"order": g.order, "price": g.price, "date": g.date}[slot[1:]]()
                doc.add(value.replace(delimiter, " "))
            elif slot == "PERSON":
                _ent(doc, "PERSON", g.person(), "person.column")
            elif slot == "EMAIL":
                _ent(doc, "EMAIL_ADDRESS", g.email(), "email.plain")
            elif slot == "PHONE":
                _ent(doc, "PHONE_NUMBER", g.phone(allow_ext=False), "phone.plain")
            else:
                _ent(doc, "LOCATION", g.location(), "location.column")
        doc.add("\n")


def _json_doc(g: _DocGen, doc: _Doc) -> None:
    doc.add("[")
    first = True
    target = g.rng.randrange(900, 3000)
    while doc.pos < target:
        doc.add("" if first else ",\n ")
        first = False
        doc.add('{"id": "' + g.uuid() + '", ')
        key = g.choice(["ssn", "tax_id", "social_security_number", "taxpayerId"])
        doc.add(f'"{key}": "')
        _ent(doc, "US_SSN", g.ssn_phone_conflict() if g.chance(0.3) else g.ssn_digits(), "ssn.json_key")
        doc.add('", "full_name": "')
        _ent(doc, "PERSON", g.person(), "person.json_key")
        doc.add('", "email": "')
        _ent(doc, "EMAIL_ADDRESS", g.email(), "email.plain")
        doc.add('", "address": "')
        cls, value = g.address(multiline=False)
        _ent(doc, "STREET_ADDRESS", value, cls)
        doc.add(f'", "status": "{g.choice(["active", "closed", "pending"])}", "balance": {g.rng.randrange(0, 99999)}}}')
    doc.add("]")


_KINDS = (
    ("email", _email_doc, 30),
    ("ticket", _ticket_doc, 25),
    ("chat", _chat_doc, 20),
    ("csv", lambda g, d: _table_doc(g, d, ","), 10),
    ("tsv", lambda g, d: _table_doc(g, d, "\t"), 5),
    ("json", _json_doc, 10),
)


def generate_documents(n: int, seed: int = DEV_SEED) -> list[dict]:
    """``n`` labelled 1-4 KB documents ``{"id", "kind", "text", "entities": [{"type","start","end","cls"}]}``."""
    g = _DocGen(seed)
    names = [k[0] for k in _KINDS]
    makers = {k[0]: k[1] for k in _KINDS}
    weights = [k[2] for k in _KINDS]
    docs: list[dict] = []
    for index in range(n):
        kind = g.rng.choices(names, weights)[0]
        doc = _Doc()
        makers[kind](g, doc)
        entities = sorted(doc.entities, key=lambda e: (e["start"], e["end"]))
        docs.append({"id": f"d{seed}-{index:05d}", "kind": kind, "text": doc.text, "entities": entities})
    return docs


if __name__ == "__main__":  # pragma: no cover - manual inspection aid
    import argparse

    parser = argparse.ArgumentParser(description="Print labelled 1-4 KB documents as JSONL")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--seed", type=int, default=DEV_SEED)
    args = parser.parse_args()
    for item in generate_documents(args.n, args.seed):
        print(json.dumps(item, ensure_ascii=False))
