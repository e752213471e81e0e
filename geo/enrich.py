"""Derived columns of an incident: whose airspace, how far from Belarus and Kaliningrad.

:func:`enrich_points` works on coordinate arrays and is what everything else calls;
:func:`enrich_table` validates, geocodes and enriches a table read by ``geo.readers``.
"""

from __future__ import annotations

import dataclasses
import json
import logging

import numpy as np
import pandas as pd

from geo._parallel import run_together
from geo.boundaries import Boundaries, load_boundaries
from geo.errors import GeocodeError
from geo.gazetteer import Gazetteer, load_gazetteer
from geo.readers import Table
from geo.schema import (
    ENRICHED_COLUMNS,
    INCIDENT,
    RejectList,
    coordinate_columns,
    stable_ids,
    validate_points,
    validate_records,
)
from geo.settings import in_coverage_box

log = logging.getLogger(__name__)


def _nearest_borders(
    bnd: Boundaries, state: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest land border of each point's own state: one query, grouped by state."""
    name = np.full(len(lon), "", dtype=object)
    index, names = bnd.border_distance(tuple(np.unique(state[state >= 0]).tolist()))
    if index is None:  # no point in a state with a land border
        return name, np.full(len(lon), np.nan)
    dist_m, seg = index.query(lon, lat, group=state)
    found = seg >= 0  # a point in no state, or in an island state, has no land border
    name[found] = names[seg[found]]
    return name, dist_m / 1000.0


def _distance_km(index, inside: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Geodesic distance to a territory: 0 inside it, else to its boundary."""
    out = np.where(inside, 0.0, np.nan)
    rows = np.flatnonzero(~inside & np.isfinite(lon) & np.isfinite(lat))
    if len(rows):
        out[rows] = index.query(lon[rows], lat[rows])[0] / 1000.0
    return out


def _states_of(bnd: Boundaries, lon: np.ndarray, lat: np.ndarray) -> dict[str, np.ndarray]:
    """Coverage, state (row of ``bnd.airspace`` or -1), and its code and name."""
    covered = in_coverage_box(lon, lat)
    state = np.full(len(lon), -1, dtype=np.int64)
    state[covered] = bnd.airspace_index.locate(lon[covered], lat[covered])
    has_state = state >= 0
    return {
        "state": state,
        "in_coverage": covered,
        "country_iso3": np.where(has_state, bnd.airspace.iso3.to_numpy(dtype=object)[state], ""),
        "country_name": np.where(has_state, bnd.airspace.name.to_numpy(dtype=object)[state], ""),
    }


def _belarus_km(bnd: Boundaries, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return _distance_km(bnd.belarus_distance, bnd.belarus_index.contains(lon, lat), lon, lat)


def _kaliningrad_km(bnd: Boundaries, lon: np.ndarray, lat: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    inside = bnd.kaliningrad_index.contains(lon, lat)
    return inside, _distance_km(bnd.kaliningrad_distance, inside, lon, lat)


def _build_indexes(bnd: Boundaries) -> None:
    """Build the lazily made indexes that parallel tasks read, before they start."""
    for name in ("airspace_index", "land_index", "belarus_index", "kaliningrad_index",
                 "belarus_distance", "kaliningrad_distance"):
        getattr(bnd, name)


def territory_facts(lon: np.ndarray, lat: np.ndarray, *,
                    boundaries: Boundaries | None = None) -> dict[str, np.ndarray]:
    """Whose airspace each point is in, and how far it is from Belarus and Kaliningrad.

    Parameters
    ----------
    lon, lat : array_like
        Degrees (WGS84). NaN gives empty values.
    boundaries : Boundaries, optional
        Reference data; the committed default when omitted.

    Returns
    -------
    dict of ndarray
        ``state`` (row of ``boundaries.airspace``, -1 for none), ``in_coverage``,
        ``country_iso3``, ``country_name``, ``in_kaliningrad``, ``dist_belarus_km`` and
        ``dist_kaliningrad_km`` (geodesic; 0 inside).
    """
    bnd = boundaries or load_boundaries()
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    _build_indexes(bnd)
    facts, dist_blr, (in_kal, dist_kal) = run_together(
        lambda: _states_of(bnd, lon, lat),
        lambda: _belarus_km(bnd, lon, lat),
        lambda: _kaliningrad_km(bnd, lon, lat))
    return {**facts, "in_kaliningrad": in_kal, "dist_belarus_km": dist_blr,
            "dist_kaliningrad_km": dist_kal}


def enrich_points(
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    boundaries: Boundaries | None = None,
    gazetteer: Gazetteer | None = None,
) -> pd.DataFrame:
    """Return the enriched columns (all but ``geocode_source``) for WGS84 points.

    Parameters
    ----------
    lon, lat : array_like
        Degrees. NaN gives empty values.
    boundaries, gazetteer : optional
        Reference data; the committed defaults when omitted.

    Returns
    -------
    DataFrame
        One row per point, columns :data:`ENRICHED_COLUMNS` without ``geocode_source``.
    """
    bnd = boundaries or load_boundaries()
    gaz = gazetteer or load_gazetteer()
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    covered = in_coverage_box(lon, lat)

    def states_and_borders():
        facts = _states_of(bnd, lon, lat)
        return facts, _nearest_borders(bnd, facts["state"], lon, lat)

    _build_indexes(bnd)
    # the searches are independent and mostly release the GIL: run them side by side
    (facts, (border_name, border_km)), dist_blr, (in_kal, dist_kal), places, on_land = (
        run_together(states_and_borders,
                     lambda: _belarus_km(bnd, lon, lat),
                     lambda: _kaliningrad_km(bnd, lon, lat),
                     lambda: gaz.nearest_arrays(np.where(covered, lon, np.nan), lat),
                     lambda: bnd.land_index.contains(lon, lat)))
    over_water = pd.array(np.where(covered, ~on_land, False), dtype="boolean")
    over_water[~covered] = pd.NA
    return pd.DataFrame({
        "country_iso3": facts["country_iso3"],
        "country_name": facts["country_name"],
        "over_water": over_water,
        "in_coverage": covered,
        "in_kaliningrad": in_kal,
        "dist_belarus_km": dist_blr,
        "dist_kaliningrad_km": dist_kal,
        "nearest_border": border_name,
        "dist_border_km": border_km,
        **places,  # nearest_place, nearest_place_km, location_label (none outside coverage)
    })


def _geocode_places(frame: pd.DataFrame, checked: pd.DataFrame, gaz: Gazetteer,
                    rejects: RejectList) -> tuple[pd.Series, pd.Series]:
    """Fill coordinates of rows that give only a ``place``.

    Returns each row's ``geocode_source`` and whether the row names a place at all.
    """
    source = pd.Series("coordinates", index=frame.index, dtype=object)
    if "place" not in frame.columns:
        return source, pd.Series(False, index=frame.index)
    names = frame["place"].astype("string").str.strip().fillna("")
    todo = checked["lat"].isna() & checked["lon"].isna() & (names != "")
    countries = (frame["country_iso3"].astype("string").fillna("")
                 if "country_iso3" in frame.columns else pd.Series("", index=frame.index))
    resolved: dict[tuple[str, str], tuple[float, float] | str] = {}
    for label in frame.index[todo]:
        key = (names[label], countries[label])
        if key not in resolved:
            try:
                place = gaz.geocode(key[0], country=key[1] or None).place
                resolved[key] = (place.lat, place.lon)
            except GeocodeError as exc:
                resolved[key] = str(exc)
        got = resolved[key]
        if isinstance(got, str):
            rejects.add(label, "place", got)
        else:
            checked.loc[label, ["lat", "lon"]] = got
            source[label] = "gazetteer"
    return source, names != ""


def _locate(table: Table, gaz: Gazetteer, rejects: RejectList, *, check_dates: bool
            ) -> tuple[pd.DataFrame, pd.Series, str | None, str | None]:
    """Validate coordinates, geocode place names and reject rows with no location.

    Returns the numeric ``lat``/``lon`` frame, each row's ``geocode_source`` and the
    names of the input's latitude and longitude columns.
    """
    frame = table.frame
    if table.points is not None:  # geodata: the geometry is the location
        work = frame.assign(lat=table.points["lat"], lon=table.points["lon"])
        for label, kind in (table.non_points or {}).items():
            rejects.add(label, "geometry", f"geometry is a {kind}; expected a Point")
        lat_col, lon_col = "lat", "lon"
    else:
        work = frame
        lat_col, lon_col = coordinate_columns(list(frame.columns))
    checked = validate_points(work, lat_col, lon_col, rejects, check_dates=check_dates)
    source, place_given = _geocode_places(frame, checked, gaz, rejects)
    located = checked["lat"].notna() & checked["lon"].notna()
    already = frame.index.isin(rejects.index)
    partial = ~located & (checked["lat"].notna() | checked["lon"].notna()) & ~already
    rejects.add_many(frame.index[partial], f"{lat_col},{lon_col}",
                     "only one of latitude and longitude is given")
    nothing = ~located & ~partial & ~place_given & ~already
    rejects.add_many(frame.index[nothing], "lat,lon",
                     "no coordinates (lat/lon) and no place name")
    return checked, source, lat_col, lon_col


def rejection_report(table: Table, rejects: RejectList) -> pd.DataFrame:
    """The rejection table, with records that could not even be split into fields."""
    report = rejects.table(table.frame, table.row_numbers)
    if table.malformed:
        broken = pd.DataFrame(table.malformed, columns=["row", "field", "reason", "raw"])
        report = pd.concat([report, broken], ignore_index=True).sort_values("row",
                                                                            kind="stable")
    return report


def enrich_table(table: Table, *, gazetteer: Gazetteer | None = None,
                 boundaries: Boundaries | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate, geocode and enrich an input table.

    Rows whose ``location_precision`` is "region" keep their state but get no
    distances, border or nearest place, as in the store (see :func:`prepare_incidents`).

    Returns
    -------
    enriched : DataFrame
        The valid rows: every input column, ``lat``/``lon`` (filled in for rows located
        by place name), then :data:`ENRICHED_COLUMNS`.
    rejects : DataFrame
        One row per invalid input row: ``row``, ``field``, ``reason`` and its values.
        Every input row is in exactly one of the two.
    """
    gaz = gazetteer or load_gazetteer()
    frame = table.frame
    rejects = table.rejects()
    checked, source, lat_col, lon_col = _locate(table, gaz, rejects, check_dates=True)
    valid = frame.drop(index=rejects.index)
    coords = checked.loc[valid.index, ["lat", "lon"]]
    geocoded = source.loc[valid.index] == "gazetteer"
    for column, key in ((lat_col or "lat", "lat"), (lon_col or "lon", "lon")):
        if column in valid.columns:  # keep the input's own text; fill geocoded rows
            valid[column] = valid[column].where(~geocoded, coords[key].astype(str))
        else:
            valid[column] = coords[key]
    facts = enrich_points(coords["lon"].to_numpy(), coords["lat"].to_numpy(), gazetteer=gaz,
                          boundaries=boundaries).set_axis(valid.index)
    facts["geocode_source"] = source.loc[valid.index]
    _blank_regions(facts, region_only(valid))
    stale = [c for c in ENRICHED_COLUMNS if c in valid.columns]  # re-enriching output
    enriched = pd.concat([valid.drop(columns=stale), facts], axis=1)
    return enriched, rejection_report(table, rejects)


#: Values given to every record of an input that lacks the whole column: an imported
#: incident is at least a report, of a type not stated.
INCIDENT_DEFAULTS = {"type": "unknown", "confidence": "reported"}

#: Columns that describe a precise position; meaningless for a region-precision record.
POSITION_COLUMNS = ("dist_belarus_km", "dist_kaliningrad_km", "nearest_border",
                    "dist_border_km", "nearest_place", "nearest_place_km")


def region_only(frame: pd.DataFrame) -> pd.Series:
    """Rows whose ``location_precision`` says only the region is known."""
    if "location_precision" not in frame.columns:
        return pd.Series(False, index=frame.index)
    text = frame["location_precision"].astype("string").fillna("")
    return (text.str.strip().str.lower() == "region").astype(bool)


def _blank_regions(facts: pd.DataFrame, region: pd.Series) -> None:
    """Records known only to a region keep the state but get no distances or place: the
    point is a stand-in, and a distance from it would be invented precision."""
    if not region.any():
        return
    for column in POSITION_COLUMNS:
        facts.loc[region, column] = np.nan if column.endswith("_km") else ""
    name = facts.loc[region, "country_name"].where(facts.loc[region, "country_name"] != "",
                                                   "unknown area")
    facts.loc[region, "location_label"] = name + " (region; no position reported)"


def prepare_incidents(table: Table, *, gazetteer: Gazetteer | None = None,
                      boundaries: Boundaries | None = None, now: pd.Timestamp | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn an input table into incident records ready for the store.

    Every field is checked against the incident definition (``geo.schema.INCIDENT``);
    rows without an ``id`` get a stable one from their content; inputs without a
    ``type`` or ``confidence`` column get :data:`INCIDENT_DEFAULTS`. A row geocoded from a
    ``place`` without a stated ``location_precision`` is "approximate" with
    ``location_basis`` "gazetteer: <place>". Region-precision records keep their state
    but get no distances, border or nearest place (see :data:`POSITION_COLUMNS`).

    Returns
    -------
    records : DataFrame
        The valid rows: the canonical incident columns (typed), the enriched columns,
        and ``extra``: the row's other input columns as a JSON object.
    rejects : DataFrame
        As for :func:`enrich_table`; every input row is in exactly one of the two.
    """
    gaz = gazetteer or load_gazetteer()
    frame = table.frame
    ids = (frame["id"].astype("string").str.strip().fillna("") if "id" in frame.columns
           else pd.Series("", index=frame.index))
    if (ids == "").any():  # rows without an id: one hashed from the row's content
        frame = frame.assign(id=ids.where(ids != "", stable_ids(frame)))
        table = dataclasses.replace(table, frame=frame)
    defaults = {c: v for c, v in INCIDENT_DEFAULTS.items() if c not in frame.columns}
    if defaults:  # a whole column missing is a property of the source, not of a row
        log.info("no %s column(s): records get %s", sorted(defaults), defaults)
        frame = frame.assign(**defaults)
        table = dataclasses.replace(table, frame=frame)
    rejects = table.rejects()
    checked, source, _, _ = _locate(table, gaz, rejects, check_dates=False)
    typed = validate_records(frame, INCIDENT, rejects, now=now)
    valid = typed.drop(index=rejects.index)
    coords = checked.loc[valid.index, ["lat", "lon"]]
    valid[["lat", "lon"]] = coords
    geocoded = source.loc[valid.index] == "gazetteer"
    if geocoded.any():
        places = frame.loc[valid.index, "place"].astype(str).str.strip()
        unstated = geocoded & (valid["location_basis"] == "")
        valid.loc[unstated, "location_basis"] = "gazetteer: " + places[unstated]
        vague = geocoded & (valid["location_precision"] == "")
        valid.loc[vague, "location_precision"] = "approximate"
    facts = enrich_points(coords["lon"].to_numpy(), coords["lat"].to_numpy(), gazetteer=gaz,
                          boundaries=boundaries).set_axis(valid.index)
    facts["geocode_source"] = source.loc[valid.index]
    _blank_regions(facts, region_only(valid))
    known = set(INCIDENT.columns) | set(ENRICHED_COLUMNS) | {"place"}
    others = [c for c in frame.columns if c not in known]
    extra = (frame.loc[valid.index, others].astype("string").fillna("")
             .apply(lambda row: json.dumps(row.to_dict(), ensure_ascii=False), axis=1)
             if others else pd.Series("{}", index=valid.index))
    records = pd.concat([valid, facts], axis=1).assign(extra=extra)
    return records, rejection_report(table, rejects)
