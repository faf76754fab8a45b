"""The run-time type checker the test suite applies to every mechint function (see conftest.py):
beartype, with the PEP 484 numeric tower (an int is a float, as the annotations mean it)."""

from beartype import BeartypeConf, beartype

checker = beartype(conf=BeartypeConf(is_pep484_tower=True))
