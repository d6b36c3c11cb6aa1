"""Exports of the ledger in standard formats: IATI 2.03 activities XML, SCDL subventions CSV."""
