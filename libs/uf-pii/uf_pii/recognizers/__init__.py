"""Built-in recognizers, one module per PII type.

Structured (no spaCy): email, phone, us_ssn, ca_sin, credit_card, iban,
ip_address.  NLP (spaCy NER): person, location.  Use
:func:`uf_pii.registry.default_registry` rather than importing
these directly; importing this package does not import spaCy.
"""
