"""The dashboard page, driven without a browser."""

from streamlit.testing.v1 import AppTest

from geo.settings import ROOT_DIR


def test_page_shows_the_facts_of_the_chosen_point():
    app = AppTest.from_file(str(ROOT_DIR / "dashboard" / "app.py"), default_timeout=60).run()
    assert not app.exception
    app.number_input[0].set_value(53.9).run()   # Minsk
    app.number_input[1].set_value(27.5667).run()
    table = app.dataframe[0].value
    assert table.loc["country_iso3", "value"] == "BLR"
    assert float(table.loc["dist_belarus_km", "value"]) == 0.0
